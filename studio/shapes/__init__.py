"""Procedural shapes world: vocabulary, clip drawing and the evaluator's detector."""
