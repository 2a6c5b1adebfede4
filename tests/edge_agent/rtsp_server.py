"""A real RTSP server for the stream tests (GStreamer gst-rtsp-server; run with the system python3,
since ``gi`` is not in the virtualenv): ``/usr/bin/python3 rtsp_server.py CLIP.mp4 PORT`` serves
``rtsp://127.0.0.1:PORT/cam`` and prints ``ready``."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
clip, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )")
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
