import Foundation
import XCTest

/// `emotiond run` under adverse conditions (issue #15): a stalled source, reloads that change
/// what was fixed at start, a broker that refuses us, a full disk, idle clients on the metrics port.
final class DaemonHardeningTests: TempDirTestCase {

    func daemon(_ cfg: String, source: String? = CLI.media("WolfgangLanger_Pexels.mp4"), name: String = "daemon") throws -> Child {
        try Child(CLI.binary, ["run", "--config", cfg] + (source.map { ["--source", $0] } ?? []), dir: dir, name: name)
    }

    // MARK: row 2: SIGTERM while the source blocks

    /// A FIFO whose writer sends part of a video and then stalls (keeping it open): the daemon's
    /// read blocks. SIGTERM must still stop it within 2 s, flushing the log and publishing offline.
    func testSIGTERMWhileFIFOSourceStallsStopsGracefully() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "hard/#", dir: dir)
        let (fifo, writer) = try stallingFIFO(bytes: 400_000)
        let log = dir.appendingPathComponent("frames.ndjson").path
        // Lines stay buffered (flush_every): only a graceful stop writes them.
        let cfg = try write("""
        camera:
          name: fifo
        outputs:
          log:
            path: \(log)
            flush_every: 100000
          mqtt:
            enabled: true
            port: \(broker.port)
            topic_prefix: hard
        """)
        let d = try daemon(cfg, source: fifo)
        XCTAssertTrue(sub.waitFor(15) { m in m.contains { $0.topic == "hard/available" && $0.payload == "online" } }, d.stderr)
        // Leave time to run through the 400 kB (~5 s of video) and block in the read.
        XCTAssertTrue(sub.waitFor(15) { m in m.contains { $0.topic == "hard/fifo/events" } }, "no events: \(d.stderr)")
        sleep(7)
        XCTAssertNil(d.wait(0), "daemon exited on its own: \(d.stderr)")
        let t0 = Date()
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, "still running 2 s after SIGTERM: \(d.stderr)")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2.5)
        XCTAssertTrue(sub.waitFor(3) { m in m.contains { $0.topic == "hard/available" && $0.payload == "offline" } },
                      "no offline: \(sub.messages.suffix(3))")
        let frames = try CLI.lines(log)
        XCTAssertGreaterThan(frames.count, 50, "the buffered lines were flushed on stop")
        XCTAssertEqual(try CLI.validate(log, schema: "frame.schema.json").status, 0)
        XCTAssertTrue(d.stderr.contains("emotiond: stopped"), d.stderr)
        _ = writer
    }

    /// The same while the FIFO has no writer yet (opening it blocks): SIGTERM still stops at once.
    func testSIGTERMWhileOpeningAFIFOWithoutWriter() throws {
        let fifo = dir.appendingPathComponent("nobody.mp4").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let d = try daemon(try write("camera:\n  name: fifo\n"), source: fifo)
        sleep(3)
        XCTAssertNil(d.wait(0), d.stderr)
        d.signal(SIGINT)
        XCTAssertEqual(d.wait(2), 0, "still running 2 s after SIGINT: \(d.stderr)")
    }

    // MARK: row 13: SIGHUP changing what is fixed at start

    /// camera.source and outputs.metrics.listen are applied by a reload (the source reopened, the
    /// endpoint moved); what cannot be applied (a V4L2 camera, a port in use) is rejected naming the
    /// key, and the daemon keeps running as it was.
    func testSIGHUPAppliesNewSourceAndMetricsAddressOrRejectsNamingTheKey() throws {
        let portA = Metrics.freePort(), portB = Metrics.freePort()
        let log = dir.appendingPathComponent("frames.ndjson").path
        let first = CLI.media("WolfgangLanger_Pexels.mp4"), second = CLI.media("face_noface.mov")
        func config(source: String?, listen: Int, device: String? = nil) throws -> String {
            try write("camera:\n  name: cam\n" + (source.map { "  source: \($0)\n" } ?? "") + (device.map { "  device: \($0)\n" } ?? "")
                      + "outputs:\n  log:\n    path: \(log)\n  metrics:\n    listen: 127.0.0.1:\(listen)\n")
        }
        let cfg = try config(source: first, listen: portA)
        let d = try daemon(cfg, source: nil)
        XCTAssertTrue(try eventually(10) { Metrics.scrape(portA)?["emotiond_frames_processed_total"] ?? 0 > 0 }, d.stderr)

        _ = try config(source: second, listen: portB)
        d.signal(SIGHUP)
        XCTAssertTrue(try eventually(10) { d.stderr.contains("configuration reloaded") }, d.stderr)
        XCTAssertTrue(d.stderr.contains("source now \(second)"), d.stderr)
        XCTAssertTrue(try eventually(5) { try CLI.linesSoFar(log).contains { $0["source"] as? String == second } },
                      "frames from the new source: \(d.stderr)")
        XCTAssertNotNil(Metrics.scrape(portB), "new metrics address: \(d.stderr)")
        XCTAssertNil(Metrics.scrape(portA), "the old metrics address was closed")

        // A port that is taken: rejected, naming the key; the endpoint stays where it was.
        let taken = try Metrics.listener()
        defer { close(taken.fd) }
        _ = try config(source: second, listen: taken.port)
        d.signal(SIGHUP)
        XCTAssertTrue(try eventually(10) { d.stderr.contains("rejected") }, d.stderr)
        XCTAssertTrue(d.stderr.contains("configuration reload rejected, keeping the running one: \(cfg):"), d.stderr)
        XCTAssertTrue(d.stderr.contains("outputs.metrics.listen: cannot create metrics endpoint 127.0.0.1:\(taken.port): "
                                         + "Address already in use"), d.stderr)
        XCTAssertNotNil(Metrics.scrape(portB), "still served at the previous address: \(d.stderr)")

        // From a video file to a V4L2 camera: needs a restart, says so, keeps the file running.
        _ = try config(source: nil, listen: portB, device: "/dev/video0")
        d.signal(SIGHUP)
        XCTAssertTrue(try eventually(10) { d.stderr.components(separatedBy: "rejected").count == 3 }, d.stderr)
        // Where no camera exists (CI) the shared start checks reject the device first; either way the
        // reload is refused naming a camera key, and the file keeps running.
        XCTAssertTrue(d.stderr.contains("camera.source: a V4L2 camera cannot be changed by a reload; restart the daemon")
                      || d.stderr.contains("camera.device: /dev/video0 does not exist"), d.stderr)
        let n = try CLI.linesSoFar(log).count
        XCTAssertTrue(try eventually(5) { try CLI.linesSoFar(log).count > n }, "still processing")
        XCTAssertNil(d.wait(0))
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
    }

    // MARK: row 14: SIGHUP with MQTT messages queued

    /// A FIFO fed the first `bytes` of the clip, then held open without writing: the source stalls.
    func stallingFIFO(bytes: Int) throws -> (path: String, writer: Child) {
        let fifo = dir.appendingPathComponent("stream-\(bytes).mp4").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // The clip is "fast start" (moov first), so its beginning decodes from a pipe.
        let writer = try Child("/bin/sh", ["-c", "exec 3>\"$1\"; head -c \(bytes) \"$0\" >&3; exec sleep 120",
                                           CLI.media("WolfgangLanger_Pexels.mp4"), fifo], dir: dir, name: "writer-\(bytes)")
        return (fifo, writer)
    }

    /// The broker refuses the daemon (wrong password), so messages queue; the source then stalls, so
    /// the queue stops growing. A reload that leaves the MQTT settings alone keeps the queue; a
    /// reload that fixes the password hands it to the new connection: exactly what was queued is
    /// delivered, nothing is dropped.
    func testSIGHUPKeepsQueuedMQTTMessages() throws {
        let broker = try AuthBroker(dir: dir, user: "cam", password: "right")
        let sub = try Subscriber(port: broker.port, topic: "q/#", dir: dir, name: "authsub", user: "cam", password: "right")
        let metricsPort = Metrics.freePort()
        func config(_ password: String, alpha: Double) throws -> String {
            try write("""
            camera:
              name: c
            tracking:
              ema_alpha: \(alpha)
            outputs:
              metrics:
                listen: 127.0.0.1:\(metricsPort)
              mqtt:
                enabled: true
                port: \(broker.port)
                topic_prefix: q
                username: cam
                password: \(password)
            """)
        }
        let (fifo, writer) = try stallingFIFO(bytes: 400_000)
        let d = try daemon(try config("wrong", alpha: 0.6), source: fifo)
        func metric(_ name: String) -> Double { Metrics.scrape(metricsPort)?[name] ?? -1 }
        // Stalled: frames were processed, none for a second (fps 0), messages waiting.
        XCTAssertTrue(eventually(30) {
            metric("emotiond_frames_processed_total") > 30 && metric("emotiond_fps") == 0 && metric("emotiond_mqtt_queue_length") >= 2
        }, d.stderr)
        let queued = metric("emotiond_mqtt_queue_length")

        // Unchanged MQTT settings: the same publisher and queue go on.
        _ = try config("wrong", alpha: 0.5)
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(10) { d.stderr.contains("configuration reloaded") }, d.stderr)
        XCTAssertEqual(metric("emotiond_mqtt_queue_length"), queued, "queue lost on reload: \(d.stderr)")

        // New settings: the queue moves to the new connection and all of it is delivered.
        _ = try config("right", alpha: 0.5)
        d.signal(SIGHUP)
        XCTAssertTrue(sub.waitFor(15) { m in m.filter { !$0.topic.hasSuffix("/available") }.count >= Int(queued) },
                      "expected \(queued) queued messages, got \(sub.messages.count): \(d.stderr)")
        XCTAssertTrue(eventually(5) { metric("emotiond_mqtt_connected") == 1 && metric("emotiond_mqtt_queue_length") == 0 })
        sleep(1)
        XCTAssertEqual(sub.messages.filter { !$0.topic.hasSuffix("/available") }.count, Int(queued))
        XCTAssertEqual(metric("emotiond_mqtt_dropped"), 0)
        XCTAssertEqual(sub.messages.first?.topic, "q/available")
        XCTAssertEqual(sub.messages.first?.payload, "online")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
        XCTAssertEqual(try CLI.validate(try events(sub), schema: "event.schema.json").status, 0)
        _ = writer
    }

    func events(_ sub: Subscriber) throws -> String {
        let p = dir.appendingPathComponent("events.ndjson").path
        try sub.messages.filter { $0.topic.hasSuffix("/events") }.map(\.payload).joined(separator: "\n")
            .write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    // MARK: row 15: connection errors said once, with the reason, and counted

    func testRefusedMQTTConnectionIsReportedOnceAndCounted() throws {
        let broker = try AuthBroker(dir: dir, user: "cam", password: "right")
        let port = Metrics.freePort()
        let cfg = try write("""
        outputs:
          metrics:
            listen: 127.0.0.1:\(port)
          mqtt:
            enabled: true
            port: \(broker.port)
            username: cam
            password: wrong
        """)
        let d = try daemon(cfg)
        // Attempts at ~0, 1, 3, 7 s: several refusals, one line.
        let failures = "emotiond_mqtt_connect_failures_total{reason=\"not_authorized\"}"
        XCTAssertTrue(eventually(15) { (Metrics.scrape(port)?[failures] ?? 0) >= 3 },
                      "\(Metrics.scrape(port) ?? [:]) \(d.stderr)")
        let said = d.stderr.components(separatedBy: "\n").filter { $0.contains("mqtt:") }
        XCTAssertEqual(said, ["emotiond: mqtt: cannot connect to 127.0.0.1:\(broker.port): Connection Refused: not authorised. "
                              + "(username 'cam') (retrying with backoff up to 30 s)"])
        XCTAssertEqual(Metrics.scrape(port)?["emotiond_mqtt_connected"], 0)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
    }

    // MARK: row 16: disk full

    /// A full file system (a 64 KiB tmpfs filled to the last byte before the daemon starts): every
    /// log write fails with ENOSPC, lines are dropped, counted in the metrics, and the failure is
    /// said once on stderr (not once per line). The log itself must stay a regular file, so this
    /// is a real mount, not /dev/full (which the start checks refuse as a log path).
    func testFullDiskIsCountedInMetrics() throws {
        let port = Metrics.freePort()
        let mnt = try CLI.tempDir().appendingPathComponent("full").path
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let m0 = try CLI.run(["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], executable: "/bin/mount")
        XCTAssertEqual(m0.status, 0, "mount (the tests run as root, as CI does): \(m0.stderr)")
        defer { _ = try? CLI.run([mnt], executable: "/bin/umount") }
        let fill = try CLI.run(["if=/dev/zero", "of=\(mnt)/filler", "bs=4k"], executable: "/bin/dd")
        XCTAssertTrue(fill.stderr.contains("No space left on device"), fill.stderr)
        let log = "\(mnt)/frames.ndjson"
        let d = try daemon(try write("outputs:\n  log:\n    path: \(log)\n  metrics:\n    listen: 127.0.0.1:\(port)\n"))
        XCTAssertTrue(eventually(10) { (Metrics.scrape(port)?["emotiond_frames_processed_total"] ?? 0) > 20 }, d.stderr)
        let m = try XCTUnwrap(Metrics.scrape(port))
        let frames = try XCTUnwrap(m["emotiond_frames_processed_total"])
        let errors = try XCTUnwrap(m["emotiond_log_write_errors_total"]), lost = try XCTUnwrap(m["emotiond_log_lines_dropped_total"])
        XCTAssertGreaterThan(errors, 20)
        // flush_every 1: each line is its own write; a scrape may fall between counting the frame and its line.
        XCTAssertEqual(lost, errors)
        XCTAssertLessThanOrEqual(abs(lost - frames), 1)
        let said = d.stderr.components(separatedBy: "\n").filter { $0.contains(log) }
        XCTAssertEqual(said.count, 1, d.stderr)
        XCTAssertTrue(said[0].contains("No space left on device"), said[0])
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
    }

    // MARK: row 17: idle connections on the metrics port

    func testIdleConnectionsDoNotDelayAScrape() throws {
        let port = Metrics.freePort()
        let d = try daemon(try write("outputs:\n  metrics:\n    listen: 127.0.0.1:\(port)\n"))
        XCTAssertTrue(eventually(10) { Metrics.scrape(port) != nil }, d.stderr)
        let idle = (0..<8).map { _ in Metrics.connect(port) }
        defer { idle.forEach { close($0) } }
        XCTAssertFalse(idle.contains(-1))
        let t0 = Date()
        let m = Metrics.scrape(port, timeout: 10)
        XCTAssertNotNil(m?["emotiond_frames_processed_total"], "no answer with 8 idle connections open: \(d.stderr)")
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2, "the scrape waited for the idle connections")
        // An idle client is dropped after the request timeout (2 s), freeing its slot.
        var b: UInt8 = 0
        var tv = timeval(tv_sec: 6, tv_usec: 0)
        setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        XCTAssertEqual(recv(idle[0], &b, 1, 0), 0, "the server closes an idle connection")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
    }
}

/// A mosquitto broker that accepts one user (password file), on a random loopback port.
final class AuthBroker {
    let port = Metrics.freePort()
    let child: Child
    init(dir: URL, user: String, password: String) throws {
        let pw = dir.appendingPathComponent("passwd").path
        FileManager.default.createFile(atPath: pw, contents: nil)
        let r = try CLI.run(["-b", pw, user, password], executable: "/usr/bin/mosquitto_passwd")
        XCTAssertEqual(r.status, 0, r.stderr)
        // mosquitto started as root reads its files as the mosquitto user.
        chmod(pw, 0o644)
        let conf = dir.appendingPathComponent("auth.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(pw)\npersistence false\n"
            .write(to: conf, atomically: true, encoding: .utf8)
        child = try Child("/usr/sbin/mosquitto", ["-c", conf.path], dir: dir, name: "auth-broker")
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            let probe = ["-h", "127.0.0.1", "-p", "\(port)", "-u", user, "-P", password, "-t", "probe", "-m", "x"]
            if try CLI.run(probe, executable: "/usr/bin/mosquitto_pub").status == 0 { return }
            usleep(50_000)
        }
        XCTFail("mosquitto did not start on port \(port): \(child.stderr)")
    }
}

/// mosquitto_sub with a username and password, writing "topic payload" lines to a file.

/// Plain-socket HTTP for the metrics endpoint (no client library hides how connections behave).
enum Metrics {
    static func connect(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET); a.sin_port = UInt16(port).bigEndian; a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    /// GET /metrics; the samples by "name{labels}", nil when nothing answered within `timeout`.
    /// Every series of /metrics, keyed by name and labels as exposed.
    static func scrape(_ port: Int, timeout: Int = 5) -> [String: Double]? {
        let fd = connect(port)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let req = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        guard send(fd, req, req.count, 0) == req.count else { return nil }
        var data: [UInt8] = [], buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 { return nil }
            if n == 0 { break }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let body = text.range(of: "\r\n\r\n") else { return nil }
        var out: [String: Double] = [:], sums: [String: Double] = [:]
        for l in text[body.upperBound...].split(separator: "\n") where !l.hasPrefix("#") {
            guard let sp = l.lastIndex(of: " "), let v = Double(l[l.index(after: sp)...]) else { continue }
            let key = String(l[..<sp])
            out[key] = v
            if let brace = key.firstIndex(of: "{") { sums[String(key[..<brace]), default: 0] += v }
        }
        // A labelled series under its bare name too: the sum over its label sets (per-camera
        // series of a one-camera daemon: that camera's value).
        return out.merging(sums) { own, _ in own }
    }

    /// A loopback port nothing listens on now (the kernel's choice, so other tests' ports are avoided).
    static func freePort() -> Int {
        guard let l = try? listener() else { return Int.random(in: 20000...60000) }
        close(l.fd)
        return l.port
    }

    /// A loopback socket listening on a free port (to make that port "in use").
    static func listener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET); a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard ok else { throw NSError(domain: "listener", code: Int(errno)) }
        return (fd, Int(UInt16(bigEndian: a.sin_port)))
    }
}
