"""Model plug-ins: base contract, registry, bundles, runtimes and one module per model family."""
