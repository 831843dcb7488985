"""Qt-free graph core: port types, node registry, graph model, validation, workflow files."""
