"""``docker image``: load images into the machines from this computer's engine, list them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import docker.errors
from docker.utils import parse_repository_tag

from .._errors import ImageNotAvailable, InvalidArgument, MachineNotFound
from .._results import Table
from .._util import error_text, parallel_map
from ._base import Command, engine_errors
from .validate import check_image, check_machine_name, check_machine_names, image_ref


class Images(Command):
    """Images on the machines: ``load`` them from this computer's engine, no registry needed."""

    def load(self, *images: str, machines: Sequence[str] | None = None) -> Table:
        """``docker save IMAGE | docker load`` into every machine that lacks it.

        The image is saved once from this computer's engine and loaded into the machines in
        parallel; machines that already have the same image ID are skipped (as ``kind load
        docker-image`` does)."""
        lab = self._lab
        if not images:
            raise InvalidArgument("name at least one image, e.g. lab.image.load('swarmlab/busybox')")
        host = lab.provider.host_engine()  # where images are saved from (docker save)
        targets = self._targets(machines, "load images into")
        ids = {}
        for img in images:
            try:
                ids[img] = host.images.get(img).id
            except docker.errors.ImageNotFound:
                raise ImageNotAvailable(
                    f"image {img!r} is not on this computer's engine, so it cannot be loaded into "
                    f"the machines. Pull it ('docker pull {img}') or build the offline images "
                    f"with scripts/build-images."
                ) from None
        rows = []
        for img in images:
            def lacks(m: str, img: str = img) -> bool:
                try:
                    return bool(lab.client(m).images.get(img).id != ids[img])
                except docker.errors.ImageNotFound:
                    return True
            need = [m for m, lack in zip(targets, parallel_map(lacks, targets)) if lack]
            if need:
                with tempfile.TemporaryDirectory(prefix="swarmlab-load-") as tmp:
                    archive = os.path.join(tmp, "image.tar")
                    with engine_errors(f"save {img}"), open(archive, "wb") as f:
                        image = host.images.get(img)
                        # save under the name asked for, not whichever tag comes first
                        named: str | bool = image_ref(img) if image_ref(img) in image.tags else True
                        for chunk in image.save(named=named):
                            f.write(chunk)

                    def load(m: str, archive: str = archive, img: str = img) -> None:
                        with engine_errors(f"load {img} into {m}"), open(archive, "rb") as f:
                            lab.client(m).images.load(f)

                    parallel_map(load, need)
            rows += [(m, img, "loaded" if m in need else "already there") for m in targets]
        return Table.of(
            " ; ".join(f"docker save {i} | docker load  (into each machine)" for i in images),
            ["MACHINE", "IMAGE", "RESULT"], rows)

    def pull(self, *images: str, machines: Sequence[str] | None = None) -> Table:
        """``docker pull IMAGE`` on every machine (the online way; ``load`` is the offline
        one). The first machine pulls alone, then the rest at once: with a registry mirror,
        the first fills its cache and the others are served from it. A pull that fails is
        :class:`~swarmlab.ImageNotAvailable` with the engine's words, and the mirror's."""
        lab = self._lab
        if not images:
            raise InvalidArgument("name at least one image, e.g. lab.image.pull('alpine')")
        for img in images:
            check_image(img)
        targets = self._targets(machines, "pull images on")
        rows = []
        for img in images:
            def pull(m: str, img: str = img) -> tuple[str, str, str]:
                client = lab.client(m)
                repo, tag = parse_repository_tag(img)
                said = ""
                try:
                    # the engine says a failed pull in its progress stream, not in its status
                    for line in client.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                        if isinstance(line, dict) and line.get("error"):
                            said = str(line.get("error"))
                    if not said:
                        image_id = str(client.images.get(img).id)
                except docker.errors.APIError as e:
                    said = error_text(e)
                if said:
                    hint = lab.provider.pull_hint(img)
                    raise ImageNotAvailable(f"docker pull {img} failed on {m}: {said}" + (f". {hint}" if hint else ""))
                return (m, img, f"pulled {image_id.split(':')[-1][:12]}")

            rows.append(pull(targets[0]))
            rows += parallel_map(pull, targets[1:])
        return Table.of(" ; ".join(f"docker pull {i}  (on each machine)" for i in images),
                        ["MACHINE", "IMAGE", "RESULT"], rows)

    def _targets(self, machines: Sequence[str] | None, doing: str) -> list[str]:
        """The machines named (checked, and the lab's), else every machine of the lab."""
        lab = self._lab
        targets = check_machine_names(machines) if machines else lab.machines()
        known = {m.name for m in lab.provider.list()}
        missing = [m for m in targets if m not in known]
        if missing or not targets:
            raise MachineNotFound(
                f"lab {lab.name!r} has no machine {', '.join(map(repr, missing))}" if missing
                else f"lab {lab.name!r} has no running machines to {doing}; create them first"
            )
        return targets

    def ls(self, machine: str) -> Table:
        """``docker image ls`` on a machine."""
        check_machine_name(machine)
        with engine_errors(f"list images on {machine}"):
            imgs = self._lab.client(machine).api.images()
        rows = []
        for i in imgs:
            for tag in i.get("RepoTags") or ["<none>:<none>"]:
                repo, _, t = tag.rpartition(":")
                rows.append((repo, t, i["Id"].split(":")[-1][:12], f"{i.get('Size', 0) / 1e6:.1f}MB"))
        return Table.of("docker image ls", ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"], sorted(rows),
                        notes=[f"on {machine}"])


# ---------------------------------------------------------------------------------------
# pure helpers (unit-tested without an engine)
