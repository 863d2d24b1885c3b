"""The class wing: one lab server for a class. Each learner is a user of this computer with
labs of their own, and the teacher has a board (:mod:`.status`), a JupyterHub (:mod:`.hub`,
guarded by :mod:`.hub_guard`), each learner's own rootless engine (:mod:`.rootless`), and
``swarmlab gc`` with its reading of when a lab was last used (:mod:`.gc`, :mod:`.activity`).
It reaches providers only through their contract: :meth:`~swarmlab.providers.base.Provider.list_labs`
(which labs an engine holds, and whose), ``machine_events`` and :class:`~swarmlab.providers.base.Capabilities`
(``shared_engine``: the providers whose labs share an engine).

The trust model, for teachers (the README's "The trust model" gives each point with the test
that performs its attack):

- Whoever can use this computer's Docker engine is root on this computer. A student in the
  Docker socket's group (``class up --students-are-root``) is root here; privileged DinD
  machines, explicit capabilities and the classroom's limits don't change that, and owner
  labels keep learners' labs apart from one another's mistakes, not from one another's intent.
- Untrusted students get an engine of their own (``class up --rootless``): a rootless dockerd
  run as the student in their user namespace, the student out of the Docker socket's group
  (processes still holding it are ended). Root in a machine is the student outside it.
- A learner's engine speaks for that learner only: it is used only through connections the
  kernel says that user serves (``SO_PEERCRED``, :mod:`swarmlab._peer`, each connection
  checked); the board and gc count there only labs whose owner label is that user, and the
  labs it claims of others (or of root) are said and ignored, never read or removed.
- Nothing read back from an engine or a machine is trusted: labels must be names swarmlab
  gives, and every read of an engine or a machine has a deadline and a size bound (the board:
  20 s per engine, 45 s per lab; gc: 20 s per machine, 1 MB of output, 60 s per engine), past
  which it is listed as not read while the others are read. One gc runs at a time, and a lab
  is read again right before gc removes it.
- Root does nothing in a student's home (their lessons are copied by a process of theirs); the
  hub listens on 127.0.0.1 only, its ports are checked to be the hub's before and after it
  starts (a student's listener there would get every password), and students are kept out of
  sshd (the group ``swarmlab-students``).
- Not confined: a student is a user like any other (what every user reads, 127.0.0.1); their
  own engine's word about their own labs is theirs; on cgroup v1 a rootless engine applies
  no memory or CPU limits; the kernel is shared.

::

    from swarmlab import classroom
    classroom.board()                  # in a notebook: refreshes itself every 15 s
    classroom.class_status()           # once: .text(), HTML in a notebook, .as_dict()
"""

from __future__ import annotations

from .status import ClassStatus, LearnerLab, board, class_status

__all__ = ["ClassStatus", "LearnerLab", "board", "class_status"]
