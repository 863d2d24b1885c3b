"""The images the lessons' services run: the original lab's (pulled from Docker Hub) or the
offline stand-ins (built here with scripts/build-images, loaded into the machines), and the
choice between them (:func:`lesson_images`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .._errors import InvalidArgument, SwarmlabError
from .check import boxed

__all__ = ["OFFLINE", "ONLINE", "ROLES", "LessonImages", "lesson_images"]

#: What a lesson may run, by role (the attributes of :class:`LessonImages` that name an image).
ROLES = ("hello", "old", "new", "whoami", "client")


@dataclass(frozen=True)
class LessonImages:
    """The images a lesson uses: the original lab's, or the offline stand-ins."""

    offline: bool
    hello: str  # the helloworld service: image and arguments
    hello_args: tuple[str, ...]
    old: str  # the rolling update: from this image ...
    new: str  # ... to this one
    why: str = ""
    whoami: str = "traefik/whoami"  # networking lessons: a web server that says which task answered
    client: str = "alpine"  # ... and a task to ask from (nslookup, wget, timeout)

    @property
    def network_images(self) -> tuple[str, ...]:
        """The networking lessons' images to load into the machines (offline only)."""
        return (self.whoami, self.client) if self.offline else ()

    @property
    def to_load(self) -> tuple[str, ...]:
        """Images to copy from this computer's engine into the machines (offline only)."""
        return (self.hello, self.old, self.new) if self.offline else ()

    def of(self, roles: Sequence[str]) -> tuple[str, ...]:
        """The images of these roles (:data:`ROLES`), each once."""
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise InvalidArgument(f"no image role {', '.join(unknown)} (roles: {', '.join(ROLES)})")
        return tuple(dict.fromkeys(getattr(self, r) for r in roles))

    def text(self) -> str:
        lines = [
            ("OFFLINE images (no registry needed; loaded into the machines with lab.image.load):"
             if self.offline else "Online images (the machines pull them from Docker Hub):"),
            f"  helloworld service : {self.hello} {' '.join(self.hello_args)}",
            f"  rolling update     : {self.old}  ->  {self.new}",
            f"  networking lessons : {self.whoami} (says which task answered), {self.client}",
        ]
        if self.why:
            lines += ["", self.why]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return boxed(self.text(), "#b26a00" if self.offline else "#2e7d32")


ONLINE = LessonImages(
    offline=False, hello="alpine", hello_args=("ping", "docker.com"),
    old="redis:7.2", new="redis:7.4",
    why=("The original lab used redis:3.0.6 -> redis:3.0.7; those tags are so old that Docker Hub "
         "may no longer serve them, so these lessons use two current redis tags instead."),
)
OFFLINE = LessonImages(
    offline=True, hello="swarmlab/busybox:latest", hello_args=("ping", "127.0.0.1"),
    old="swarmlab/web:1", new="swarmlab/web:2",
    whoami="swarmlab/whoami:latest", client="swarmlab/busybox:latest",
    why=("Without internet 'ping docker.com' cannot resolve a name, so helloworld pings 127.0.0.1 "
         "(each task's own loopback) instead.\nThe 'redis' service runs swarmlab/web:1 and :2, a "
         "tiny web server in two versions, instead of the redis images.\nBuild these images with "
         "scripts/build-images."),
)


def lesson_images(offline: bool | None = None) -> LessonImages:
    """The images for a lesson: ``offline`` when given, else ``SWARMLAB_OFFLINE`` (1 offline,
    0 online), else swarmlab chooses: online when a registry mirror or Docker Hub answers from
    this computer, offline when neither does; the images then say which it chose and why."""
    from .. import _offline

    choice = _offline.decide(offline)
    images = OFFLINE if choice.offline else ONLINE
    if not choice.why:
        return images
    why = choice.why
    if choice.offline:
        missing = missing_here((*images.to_load, *images.network_images))
        why += ("\nThis computer has the offline images." if not missing else
                f"\nThis computer lacks {', '.join(missing)}: build the offline images with scripts/build-images.")
    return replace(images, why=f"{why}\n\n{images.why}")


def missing_here(images: Sequence[str]) -> list[str]:
    """Which of ``images`` this computer's engine does not have (all, when no engine answers)."""
    import docker

    from .._engine import host_client

    try:
        host = host_client()
    except SwarmlabError:
        return list(dict.fromkeys(images))
    missing = []
    try:
        for image in dict.fromkeys(images):
            try:
                host.images.get(image)
            except (docker.errors.DockerException, OSError):
                missing.append(image)
    finally:
        host.close()
    return missing
