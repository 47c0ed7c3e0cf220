"""The experiment stack: models, data, Lightning modules and callbacks, ``train(cfg)``, test
surfaces and reporting. Needs the ``sweeps`` extra; the core never imports it."""
