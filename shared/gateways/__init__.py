"""Gateway adapters: one per gateway behind one Protocol, loaded through a registry."""
