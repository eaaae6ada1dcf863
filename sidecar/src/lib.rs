//! acd admin sidecar: the warp HTTP API for agent CRUD, search and permissions.
