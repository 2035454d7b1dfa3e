"""The optimizers and LR schedulers a run config may name, and the checks of its ``optimizer:`` and ``lr_scheduler:``
blocks, without importing torch: the registries built from the installed torch's signatures (``registry``), the
block checks (``checks``) and the typed blocks (``configs``). ``tune_sched.optim`` builds the torch objects from
them.
"""
