"""Survey service: QLQ-C30 / experience questionnaire schedule, member response API, scoring, analysis."""
