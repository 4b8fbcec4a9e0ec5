"""The evaluation: the facts of a timeline, the findings the rules raise, their wording, the
explanation and the step-through simulation."""
