"""Deployment artefacts (docker-compose, Kubernetes) and the Python that generates and checks them.

`python -m deploy.generate` writes the Strimzi KafkaTopics (from `contracts.topics.CATALOGUE`) and the
PrometheusRule (from `deploy/prometheus/alerts.yml`); `deploy.kustomize` renders the kustomize
overlays without a kustomize binary; `deploy.policy` holds the checks CI runs (tests/deploy/).
"""
