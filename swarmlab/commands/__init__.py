"""The commands, one module per CLI noun, each holding its verbs:

- :mod:`.machine` (``docker-machine``), :mod:`.swarm`, :mod:`.node`, :mod:`.service`,
  :mod:`.image`, :mod:`.network`, :mod:`.secret` (secrets and configs), :mod:`.stack`
  (``docker swarm / node / service / image / network / secret / config / stack``);
- beside them :mod:`.validate` (what a learner passes in), :mod:`.spec` (service specs and
  the flags they stand for) and :mod:`.clitext` (the CLI's own text for what the engines say).

A :class:`~swarmlab.Lab` composes one of each (``lab.service``, ``lab.node``, ...); a command
reaches machines only through the lab's public API (``lab.client``, ``lab.manager_client``,
``lab.machines``, ``lab.engine_logs``).
"""
