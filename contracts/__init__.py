"""CareCircle contracts: the one definition of every event, topic and metric rule."""
