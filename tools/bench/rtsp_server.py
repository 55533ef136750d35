#!/usr/bin/python3
"""A real RTSP server on loopback serving an H.264 MP4 clip (GStreamer's gst-rtsp-server).

For the network-source tests (Tests/EmotiondTests/NetworkSourceTests.swift) and for trying
`emotiond run --source rtsp://...` by hand:

    /usr/bin/python3 tools/bench/rtsp_server.py media/WolfgangLanger_Pexels.mp4 --port 8554 --loop 10
    emotiond run --source rtsp://127.0.0.1:8554/stream

Runs with Debian's system Python (python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good
and -bad; scripts/setup.sh installs them), not the tools venv. The clip's H.264 is sent as is
(no re-encoding: the test machine has two shared cores). Each client gets its own pipeline from
the start of the clip. --loop N serves the clip N times in a row: the copies are joined once
with `ffmpeg -stream_loop` into a temporary file, which is simpler and steadier than seeking a
live RTSP pipeline back to the start. --user/--password require RTSP Basic authentication.
Prints "ready rtsp://127.0.0.1:PORT/PATH" once it listens; SIGTERM/SIGINT stop it.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def looped_copy(clip, times, tmpdir):
    """The clip `times` times in a row, video only, stream-copied (a second of CPU)."""
    if times <= 1:
        return clip
    out = os.path.join(tmpdir, "looped.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(times - 1), "-i", clip,
                    "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart", out], check=True)
    return out


def launch_line(path):
    # config-interval=-1: SPS/PPS with every key frame, so a client that joins late decodes.
    loc = path.replace("\\", "\\\\").replace('"', '\\"')
    return (f'( filesrc location="{loc}" ! qtdemux ! h264parse ! '
            'rtph264pay name=pay0 pt=96 config-interval=-1 )')


def add_auth(server, factory, user, password):
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    for perm in (GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT):
        perms.add_permission_for_role("user", perm, True)
    factory.set_permissions(perms)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", help="an MP4 file with H.264 video")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--path", default="/stream", help="mount point (default /stream)")
    ap.add_argument("--loop", type=int, default=1, help="serve the clip this many times in a row")
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()

    Gst.init(None)
    with tempfile.TemporaryDirectory(prefix="rtsp-server-") as tmp:
        server = GstRtspServer.RTSPServer()
        server.set_address("127.0.0.1")
        server.set_service(str(a.port))
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(looped_copy(a.clip, a.loop, tmp)))
        factory.set_shared(False)
        if a.user is not None:
            add_auth(server, factory, a.user, a.password or "")
        server.get_mount_points().add_factory(a.path, factory)
        if server.attach(None) == 0:
            sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{a.port}")
        loop = GLib.MainLoop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
        print(f"ready rtsp://127.0.0.1:{a.port}{a.path}", flush=True)
        loop.run()


if __name__ == "__main__":
    main()
