import Foundation
import XCTest

/// `emotiond run --source URL` against real servers on loopback (issue #17, network cameras):
/// ffmpeg serving the clip over HTTP as MPEG-TS, and GStreamer's RTSP server
/// (tools/bench/rtsp_server.py). Each server is killed mid-stream and started again: the daemon
/// must report the loss once, end the open tracks, reconnect by itself and publish new events,
/// without being restarted; the URL's credentials must never appear in what it writes.
final class NetworkSourceTests: TempDirTestCase {

    static let clip = CLI.media("WolfgangLanger_Pexels.mp4")
    static let secret = "Secr3tPw"

    /// Short reconnection waits keep the test quick; generous timeouts keep it steady on a loaded host.
    func config(broker: Int, metrics: Int, log: String, transport: String = "tcp") throws -> String {
        try write("""
        camera:
          name: netcam
          rtsp_transport: \(transport)
          open_timeout: 8
          read_timeout: 4
          reconnect_delay: 0.5
          reconnect_max_delay: 2
        outputs:
          log:
            path: \(log)
          metrics:
            listen: 127.0.0.1:\(metrics)
          mqtt:
            enabled: true
            port: \(broker)
            topic_prefix: net
        """)
    }

    func events(_ sub: Subscriber) -> [[String: Any]] {
        sub.messages.filter { $0.topic == "net/netcam/events" }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any]
        }
    }

    func tracks(_ sub: Subscriber, _ type: String) -> Set<Int> {
        Set(events(sub).filter { $0["type"] as? String == type }.compactMap { $0["track"] as? Int })
    }

    func count(_ text: String, _ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }

    // MARK: servers

    /// ffmpeg serving the clip in real time, looped, as MPEG-TS over HTTP. It serves one client
    /// and exits when that client goes, so it is never probed before the daemon connects.
    func httpServer(port: Int, name: String) throws -> Child {
        try Child("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", Self.clip, "-an", "-c", "copy",
                                      "-f", "mpegts", "-listen", "1", "http://127.0.0.1:\(port)/cam.ts"], dir: dir, name: name)
    }

    /// GStreamer's RTSP server (Debian's system Python with python3-gi), requiring the test's
    /// credentials; ready once it printed "ready".
    func rtspServer(port: Int, name: String) throws -> Child {
        let server = try Child("/usr/bin/python3", [CLI.root.appendingPathComponent("tools/bench/rtsp_server.py").path, Self.clip,
                                                    "--port", "\(port)", "--loop", "10", "--user", "viewer", "--password", Self.secret],
                               dir: dir, name: name)
        let out = dir.appendingPathComponent("\(name).stdout").path
        XCTAssertTrue(eventually(30) { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("ready") },
                      "RTSP server did not start: \(server.stderr)")
        return server
    }

    // MARK: tests

    func testHTTPStreamSurvivesServerRestartAndFreeze() throws {
        let port = Metrics.freePort()
        var server = try httpServer(port: port, name: "http1")
        let url = "http://viewer:\(Self.secret)@127.0.0.1:\(port)/cam.ts"
        let (d, _, _) = try survivesRestart(url: url, shown: "http://viewer:***@127.0.0.1:\(port)/cam.ts", stopAtEnd: false, kill: {
            server.signal(SIGKILL); _ = server.wait(5)
        }, restart: { server = try self.httpServer(port: port, name: "http2") })
        defer { d.signal(SIGKILL) }
        // A server that freezes (connection open, no data) is lost after read_timeout (4 s).
        server.signal(SIGSTOP)
        XCTAssertTrue(eventually(30) { d.stderr.contains("cam.ts: no data within 4000 ms (timeout); reconnecting") }, d.stderr)
        server.signal(SIGKILL)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
        XCTAssertFalse(d.stderr.contains(Self.secret), d.stderr)
    }

    func testRTSPStreamSurvivesServerRestartAndTransportReload() throws {
        let port = Metrics.freePort()
        var server = try rtspServer(port: port, name: "rtsp1")
        let url = "rtsp://viewer:\(Self.secret)@127.0.0.1:\(port)/stream"
        let (d, cfg, log) = try survivesRestart(url: url, shown: "rtsp://viewer:***@127.0.0.1:\(port)/stream", stopAtEnd: false, kill: {
            server.signal(SIGKILL); _ = server.wait(5)
        }, restart: { server = try self.rtspServer(port: port, name: "rtsp2") })
        defer { d.signal(SIGKILL) }

        // rtsp_transport is applied by a reload: the stream is reopened over UDP (RTP sockets appear).
        XCTAssertEqual(udpSockets(of: d.process.processIdentifier), 0, "TCP transport uses no UDP socket")
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "rtsp_transport: tcp", with: "rtsp_transport: udp")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(20) { d.stderr.contains("configuration reloaded (source now rtsp://viewer:***@") }, d.stderr)
        XCTAssertTrue(eventually(30) { udpSockets(of: d.process.processIdentifier) >= 2 }, "no RTP/RTCP sockets: \(d.stderr)")
        let n = try CLI.linesSoFar(log).count
        XCTAssertTrue(try eventually(30) { try CLI.linesSoFar(log).count > n + 20 }, "frames over UDP: \(d.stderr)")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
        XCTAssertFalse(d.stderr.contains(Self.secret), d.stderr)
        _ = server
    }

    /// The daemon on `url` (served until `kill`): events, then the server dies and comes back
    /// (`restart`): one "source lost", the tracks end, one "source back", new tracks, same process.
    @discardableResult
    func survivesRestart(url: String, shown: String, stopAtEnd: Bool = true, kill: () -> Void, restart: () throws -> Void,
                         file: StaticString = #filePath, line: UInt = #line) throws -> (Child, String, String) {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "net/#", dir: dir)
        let log = dir.appendingPathComponent("frames.ndjson").path, metricsPort = Metrics.freePort()
        let cfg = try config(broker: broker.port, metrics: metricsPort, log: log)
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", url], dir: dir, name: "daemon")

        XCTAssertTrue(eventually(60) { !tracks(sub, "new").isEmpty }, "no new event: \(d.stderr)", file: file, line: line)
        let before = tracks(sub, "new")
        kill()
        XCTAssertTrue(eventually(30) { d.stderr.contains("source lost: \(shown)") }, d.stderr, file: file, line: line)
        XCTAssertTrue(eventually(10) { tracks(sub, "end").isSuperset(of: before) }, "tracks ended at the loss: \(events(sub))",
                      file: file, line: line)
        XCTAssertNil(d.wait(0), "the daemon exited when the server died: \(d.stderr)", file: file, line: line)
        try restart()
        XCTAssertTrue(eventually(60) { d.stderr.contains("source back: \(shown)") }, d.stderr, file: file, line: line)
        XCTAssertTrue(eventually(60) { !tracks(sub, "new").subtracting(before).isEmpty }, "no new track after the reconnection: \(d.stderr)",
                      file: file, line: line)
        XCTAssertNil(d.wait(0), "the daemon was never restarted: \(d.stderr)", file: file, line: line)

        let m = Metrics.scrape(metricsPort)
        XCTAssertEqual(m?["emotiond_source_reconnects_total"], 1, file: file, line: line)
        XCTAssertEqual(m?["emotiond_source_connected"], 1, file: file, line: line)
        XCTAssertEqual(count(d.stderr, "source lost"), 1, "the loss is logged once: \(d.stderr)", file: file, line: line)
        XCTAssertEqual(count(d.stderr, "source back"), 1, d.stderr, file: file, line: line)
        if stopAtEnd {
            d.signal(SIGTERM)
            XCTAssertEqual(d.wait(5), 0, d.stderr, file: file, line: line)
        }
        // Credentials appear nowhere: stderr, the log (its `source` is the redacted URL), MQTT.
        let frames = try CLI.linesSoFar(log)
        XCTAssertEqual(Set(frames.compactMap { $0["source"] as? String }), [shown], file: file, line: line)
        // media_time runs on across the reconnection (it restarted at 0 with the new stream before).
        let times = frames.compactMap { $0["media_time"] as? Double }
        let back = zip(times, times.dropFirst()).first { $1 < $0 }
        XCTAssertNil(back, "media_time went back: \(String(describing: back))", file: file, line: line)
        for (what, text) in [("stderr", d.stderr), ("log", try String(contentsOfFile: log, encoding: .utf8)),
                             ("mqtt", sub.messages.map(\.payload).joined(separator: "\n"))] {
            XCTAssertFalse(text.contains(Self.secret), "\(what) holds the password", file: file, line: line)
        }
        XCTAssertEqual(events(sub).first { $0["type"] as? String == "new" }?["source"] as? String, shown, file: file, line: line)
        return (d, cfg, log)
    }

    /// A camera that accepts the connection and never answers: the daemon runs on, retrying with
    /// backoff, says so once, and SIGTERM stops it at once even while an open is blocked.
    func testUnreachableSourceAtStartIsRetriedAndSIGTERMStopsPromptly() throws {
        let silent = try Metrics.listener()   // the kernel accepts; nobody ever reads or answers
        defer { close(silent.fd) }
        let metricsPort = Metrics.freePort()
        let cfg = try write("""
        camera:
          open_timeout: 2
          reconnect_delay: 0.2
          reconnect_max_delay: 0.5
        outputs:
          metrics:
            listen: 127.0.0.1:\(metricsPort)
        """)
        let url = "http://viewer:\(Self.secret)@127.0.0.1:\(silent.port)/cam.ts"
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", url], dir: dir, name: "daemon")
        XCTAssertTrue(eventually(30) { (Metrics.scrape(metricsPort)?["emotiond_source_open_failures_total"] ?? 0) >= 2 },
                      "two attempts timed out: \(d.stderr)")
        XCTAssertNil(d.wait(0), "still running: \(d.stderr)")
        XCTAssertEqual(Metrics.scrape(metricsPort)?["emotiond_source_connected"], 0)
        XCTAssertEqual(count(d.stderr, "unreachable"), 1, "said once: \(d.stderr)")
        XCTAssertTrue(d.stderr.contains("source http://viewer:***@127.0.0.1:\(silent.port)/cam.ts unreachable: no answer within 2000 ms"),
                      d.stderr)
        usleep(300_000)   // in the next attempt's 2 s open
        let t0 = Date()
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, "still running after SIGTERM: \(d.stderr)")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 1.5)
        XCTAssertFalse(d.stderr.contains(Self.secret), d.stderr)
    }

    /// The start checks take a URL without connecting (check-config says OK for a camera that is
    /// off); a scheme FFmpeg is not used for, a bad port or transport is a located error naming
    /// the key, with the password redacted; batch refuses URLs.
    func testSourceURLChecks() throws {
        let ok = try write("camera:\n  source: rtsp://viewer:\(Self.secret)@127.0.0.1:1/stream\n  rtsp_transport: udp\n", "ok.yaml")
        let r = try CLI.run(["check-config", "--config", ok])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("source rtsp://viewer:***@127.0.0.1:1/stream"), r.stdout)

        let bad = try write("""
        camera:
          source: ftp://viewer:\(Self.secret)@cam.local/x
          rtsp_transport: quic
          open_timeout: 0
        """, "bad.yaml")
        for cmd in [["check-config", "--config", bad], ["run", "--config", bad]] {
            let b = try CLI.run(cmd)
            XCTAssertEqual(b.status, 1, b.stderr)
            XCTAssertTrue(b.stderr.contains("bad.yaml:2: camera.source: unsupported URL scheme 'ftp' in ftp://viewer:***@cam.local/x "
                                            + "(allowed: a file path, or a URL with scheme rtsp, rtsps, http, https or file)"), b.stderr)
            XCTAssertTrue(b.stderr.contains("bad.yaml:3: camera.rtsp_transport: must be one of tcp, udp, got 'quic'"), b.stderr)
            XCTAssertTrue(b.stderr.contains("bad.yaml:4: camera.open_timeout: must be a number in 0.1...600, got '0'"), b.stderr)
            XCTAssertFalse(b.stderr.contains(Self.secret), b.stderr)
        }
        let port = try CLI.run(["run", "--source", "rtsp://viewer:\(Self.secret)@cam.local:70000/x"])
        XCTAssertEqual(port.status, 1)
        XCTAssertTrue(port.stderr.contains("camera.source: rtsp://viewer:***@cam.local:70000/x: the port must be a number in 1...65535"),
                      port.stderr)

        let batch = try CLI.run(["batch", "http://viewer:\(Self.secret)@127.0.0.1:1/clip.mp4"])
        XCTAssertEqual(batch.status, 64)
        XCTAssertTrue(batch.stderr.contains("http://viewer:***@127.0.0.1:1/clip.mp4 is a URL: batch reads recorded video files"),
                      batch.stderr)
        XCTAssertFalse(batch.stderr.contains(Self.secret))
    }
}

/// The same servers for `live` (in Xvfb) and over TLS.
final class NetworkSourceMoreTests: TempDirTestCase {
    /// `live --source URL`: the window's capture survives the server's death and return, as
    /// `run` does (one "source lost", one "source back", frames again), and q still quits.
    func testLiveWindowReconnectsToHTTPStream() throws {
        let display = ":\(Int.random(in: 50...250))"
        let xvfb = try Child("/usr/bin/Xvfb", [display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"], dir: dir, name: "xvfb")
        defer { xvfb.signal(SIGTERM) }
        usleep(800_000)
        let port = Metrics.freePort()
        var server = try httpServer(port: port, name: "http1")
        let log = dir.appendingPathComponent("live.ndjson").path, url = "http://127.0.0.1:\(port)/cam.ts"
        let live = try Child(CLI.binary, ["live", "--source", url, "--log", log], env: ["DISPLAY": display, "QT_X11_NO_MITSHM": "1"],
                             dir: dir, name: "live")
        defer { live.signal(SIGKILL) }
        func lines() -> Int { (try? CLI.linesSoFar(log))?.count ?? 0 }
        XCTAssertTrue(eventually(60) { lines() > 20 }, live.stderr)
        server.signal(SIGKILL); _ = server.wait(5)
        XCTAssertTrue(eventually(30) { live.stderr.contains("source lost: \(url)") }, live.stderr)
        XCTAssertNil(live.wait(0), "live exited when the server died: \(live.stderr)")
        let before = lines()
        server = try httpServer(port: port, name: "http2")
        defer { server.signal(SIGKILL) }
        XCTAssertTrue(eventually(60) { live.stderr.contains("source back: \(url)") }, live.stderr)
        XCTAssertTrue(eventually(30) { lines() > before + 20 }, "no frames after the reconnection: \(live.stderr)")
        let win = try CLI.run(["search", "--name", "^emotiond$"], executable: "/usr/bin/xdotool", env: ["DISPLAY": display])
        let wid = try XCTUnwrap(win.stdout.split(separator: "\n").first.map(String.init), "no emotiond window: \(win.stderr)")
        XCTAssertEqual(try CLI.run(["key", "--window", wid, "q"], executable: "/usr/bin/xdotool", env: ["DISPLAY": display]).status, 0)
        XCTAssertEqual(live.wait(10), 0, live.stderr)
    }

    /// An https:// source: ffmpeg serving the clip over TLS (a self-signed certificate made here).
    func testHTTPSStream() throws {
        let key = dir.appendingPathComponent("key.pem").path, cert = dir.appendingPathComponent("cert.pem").path
        let mk = try CLI.run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                              "-subj", "/CN=127.0.0.1"], executable: "/usr/bin/openssl")
        XCTAssertEqual(mk.status, 0, mk.stderr)
        let port = Metrics.freePort()
        let server = try Child("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", NetworkSourceTests.clip,
                                                   "-an", "-c", "copy", "-f", "mpegts", "-listen", "1", "-cert_file", cert,
                                                   "-key_file", key, "https://127.0.0.1:\(port)/cam.ts"], dir: dir, name: "https")
        defer { server.signal(SIGKILL) }
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try write("outputs:\n  log:\n    path: \(log)\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", "https://127.0.0.1:\(port)/cam.ts"], dir: dir, name: "daemon")
        defer { d.signal(SIGKILL) }
        XCTAssertTrue(eventually(60) { ((try? CLI.linesSoFar(log)) ?? []).filter { !($0["faces"] as? [Any] ?? []).isEmpty }.count > 20 },
                      "no faces over TLS: \(d.stderr) \(server.stderr)")
        XCTAssertTrue(d.stderr.contains("source connected: https://127.0.0.1:\(port)/cam.ts"), d.stderr)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(10), 0, d.stderr)
    }

    func httpServer(port: Int, name: String) throws -> Child {
        try Child("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", NetworkSourceTests.clip, "-an", "-c", "copy",
                                      "-f", "mpegts", "-listen", "1", "http://127.0.0.1:\(port)/cam.ts"], dir: dir, name: name)
    }
}

/// UDP sockets a process holds: its descriptors' socket inodes found in /proc/net/udp and udp6.
func udpSockets(of pid: Int32) -> Int {
    let fdDir = "/proc/\(pid)/fd"
    let inodes = Set(((try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? []).compactMap { fd -> String? in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDir)/\(fd)"),
              target.hasPrefix("socket:[") else { return nil }
        return String(target.dropFirst(8).dropLast())
    })
    let table = ["/proc/net/udp", "/proc/net/udp6"].flatMap {
        ((try? String(contentsOfFile: $0, encoding: .utf8)) ?? "").split(separator: "\n").dropFirst()
    }
    return table.filter { row in
        let cols = row.split(separator: " ")
        return cols.count > 9 && inodes.contains(String(cols[9]))
    }.count
}
