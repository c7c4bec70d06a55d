"""A real RTSP camera for tests: GStreamer's RTSP server playing the frames of a sample video in a loop.

Run it with the system Python, which has GStreamer's introspection bindings (Debian's ``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``)::

    /usr/bin/python3 tests/support/rtsp_server.py PORT FRAMES_DIR

``FRAMES_DIR`` holds ``00000.jpg``, ``00001.jpg``, ... (the test writes them from a sample video). The
server streams them as RTP/JPEG at 10 fps on ``rtsp://127.0.0.1:PORT/cam`` and prints ``ready`` once it
listens. Killing the process is a camera outage; starting it again on the same port is the camera back.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 -- after require_version, as gi needs


def main() -> int:
    port, frames_dir = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( multifilesrc location="{frames_dir}/%05d.jpg" loop=true caps="image/jpeg,framerate=10/1" '
        "! jpegparse ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
