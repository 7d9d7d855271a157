"""Lab only: cinder's FakeLoggingVolumeDriver with a sparse file behind each volume.

The fake driver inherits the LVM driver's data path: creating a volume from an image converts the
image with ``qemu-img convert`` (through cinder-rootwrap) into ``local_path(volume)``, which for
LVM is a ``/dev/mapper`` device that the fake driver never creates ("destination ... does not
exist"). This subclass keeps every fake behaviour and puts a sparse file of the volume's size
under ``<state_path>/volumes`` in its place, so that images really land in volumes.
"""

from __future__ import annotations

import os

from cinder.tests import fake_driver
from oslo_config import cfg

CONF = cfg.CONF
GiB = 1024**3


class FileBackedFakeDriver(fake_driver.FakeLoggingVolumeDriver):
    """FakeLoggingVolumeDriver whose volumes are sparse files (volume from image works)."""

    def local_path(self, volume, vg=None) -> str:
        return os.path.join(CONF.state_path, "volumes", volume["name"])

    def _make_file(self, volume) -> None:
        with open(self.local_path(volume), "ab") as handle:
            handle.truncate(int(volume["size"]) * GiB)

    def create_volume(self, volume):
        update = super().create_volume(volume)
        self._make_file(volume)
        return update

    def create_cloned_volume(self, volume, src_vol):
        update = super().create_cloned_volume(volume, src_vol)
        self._make_file(volume)
        return update

    def create_volume_from_snapshot(self, volume, snapshot):
        update = super().create_volume_from_snapshot(volume, snapshot)
        self._make_file(volume)
        return update

    def extend_volume(self, volume, new_size):
        super().extend_volume(volume, new_size)
        with open(self.local_path(volume), "ab") as handle:
            handle.truncate(int(new_size) * GiB)

    def delete_volume(self, volume):
        super().delete_volume(volume)
        try:
            os.unlink(self.local_path(volume))
        except FileNotFoundError:
            pass
