import Foundation
import XCTest

/// Configuration hardening through the built binary (issue #15 rows 1, 12, 18, 20): one
/// validation path for check-config and run, bounded YAML, refused non-regular files,
/// validated options, the MQTT password out of the configuration.
final class ConfigHardeningTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ text: String, _ name: String = "c-\(UUID().uuidString).yaml", mode: Int = 0o600) throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        chmod(p, mode_t(mode))
        return p
    }

    /// check-config and run both refuse `yaml` with exactly `expected` (FILE: the file's path).
    func assertBothRefuse(_ yaml: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try write(yaml)
        for cmd in ["check-config", "run"] {
            let r = try CLI.run([cmd, "--config", p])
            XCTAssertEqual(r.status, 1, "\(cmd): \(r.stdout)\(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines),
                           "Error: " + expected.replacingOccurrences(of: "FILE", with: p), cmd, file: file, line: line)
        }
    }

    // MARK: row 12: check-config said OK to 11 configurations run refused

    func testCheckConfigRefusesWhatRunRefuses() throws {
        let src = "camera:\n  source: \(CLI.media("single_face.mp4"))\n"
        let d = dir.path
        let listen = "must be HOST:PORT with PORT in 1...65535 and HOST an IPv4 address (127.0.0.1), an IPv6 address in "
            + "brackets ([::1]) or a hostname (localhost), got"
        let cases: [(String, String)] = [
            (src + "outputs:\n  metrics:\n    listen: 999.1.1.1:1\n", "FILE:5: outputs.metrics.listen: \(listen) '999.1.1.1:1'"),
            (src + "outputs:\n  metrics:\n    listen: 127.0.0.1:99999\n", "FILE:5: outputs.metrics.listen: \(listen) '127.0.0.1:99999'"),
            (src + "outputs:\n  log:\n    path: \(d)\n",
             "FILE:5: outputs.log.path: \(d) is a directory; give a file path in it, e.g. \(d)/frames.ndjson"),
            (src + "outputs:\n  log:\n    path: \(d)/none/f.ndjson\n",
             "FILE:5: outputs.log.path: cannot create \(d)/none/f.ndjson: directory \(d)/none does not exist (create it first)"),
            (src + "outputs:\n  log:\n    path: ''\n",
             "FILE:5: outputs.log.path: must not be empty (allowed: a file path (at most 4095 bytes, no control characters))"),
            (src + "outputs:\n  mqtt:\n    enabled: true\n    ca_file: \(d)/ca.pem\n", "FILE:6: outputs.mqtt.ca_file: \(d)/ca.pem: no such file"),
            (src + "outputs:\n  mqtt:\n    enabled: true\n    ca_file: /etc/hostname\n    cert_file: /etc/hostname\n",
             "FILE:7: outputs.mqtt.cert_file: needs key_file (a client certificate goes with its key)"),
            ("camera:\n  device: /dev/null\n", "FILE:2: camera.device: /dev/null is a character device but not a V4L2 one; "
             + "expected a V4L2 capture device such as /dev/video0 (`emotiond devices` lists them)"),
            ("camera:\n  device: /etc/passwd\n", "FILE:2: camera.device: /etc/passwd is not a video capture device with streaming I/O; "
             + "expected a V4L2 capture device such as /dev/video0 (`emotiond devices` lists them)"),
            (src + "outputs:\n  mqtt:\n    enabled: true\n    client_id: ''\n",
             "FILE:6: outputs.mqtt.client_id: must not be empty (allowed: text of 1-65535 bytes without control characters)"),
            (src + "outputs:\n  mqtt:\n    enabled: true\n    topic_prefix: \(String(repeating: "t", count: 70000))\n",
             "FILE:6: outputs.mqtt.topic_prefix: must be 1-65000 bytes without '#', '+' or control characters, got '"
             + String(repeating: "t", count: 40) + "…' (70000 bytes)"),
            (src + "http:\n  listen: 127.0.0.1:0\n", "FILE:4: http.listen: \(listen) '127.0.0.1:0'"),
            (src + "http:\n  listen: \"[::1]:8080\"\n", "FILE:4: http.listen: IPv6 addresses are not supported by the metrics "
             + "endpoint yet; use an IPv4 address (127.0.0.1:8080) or a hostname with an IPv4 address"),
            (src + "http:\n  listen: 127.0.0.1:9464\noutputs:\n  metrics:\n    listen: localhost:9464\n",
             "FILE:4: http.listen: is also outputs.metrics.listen; the HTTP server serves /metrics too: set http.listen alone"),
            (src + "http:\n  mjpeg_fps: 60\n", "FILE:4: http.mjpeg_fps: must be an integer in 1...30, got '60'"),
        ]
        for (yaml, expected) in cases { try assertBothRefuse(yaml, expected) }
    }

    func testEveryProblemIsReportedInOneRun() throws {
        try assertBothRefuse("""
        camera:
          source: \(CLI.media("single_face.mp4"))
          fsp: 30
        detector:
          min_neighbors: lots
        model:
          path: \(dir.path)/none.onnx
        """, """
        FILE: 3 problems
        FILE:3: camera.fsp: unknown key (did you mean 'fps'?)
        FILE:5: detector.min_neighbors: must be an integer in 0...50, got 'lots'
        FILE:7: model.path: cannot read model file \(dir.path)/none.onnx: no such file
        """)
    }

    /// A hostname in `listen` is resolved once at start, and the endpoint answers on its address.
    func testMetricsListenAcceptsAHostname() throws {
        let port = Int.random(in: 20000...60000)
        let cfg = try write("outputs:\n  metrics:\n    listen: localhost:\(port)\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(2)
        let fetch = "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:%s/metrics' % sys.argv[1], timeout=5).read().decode())"
        let r = try CLI.run(["-c", fetch, "\(port)"], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr + d.stderr)
        XCTAssertTrue(r.stdout.contains("emotiond_frames_processed_total"), r.stdout)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
    }

    // MARK: row 1: deep YAML crashed check-config, run and a SIGHUP reload

    func testDeepYAMLIsALocatedErrorNotACrash() throws {
        let expected = "FILE:1: YAML nested deeper than 64 levels (the configuration's keys are 3 deep)"
        try assertBothRefuse("a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n", expected)
        try assertBothRefuse(String(repeating: "- ", count: 5000) + "x\n", expected)
        try assertBothRefuse((0..<1000).map { String(repeating: " ", count: $0) + "k:\n" }.joined(),
                             expected.replacingOccurrences(of: "FILE:1:", with: "FILE:65:"))
        try assertBothRefuse("# " + String(repeating: "x", count: 1 << 20) + "\n", "FILE: is larger than 1 MiB; the configuration is refused")
    }

    func testSIGHUPWithDeepYAMLKeepsTheDaemonRunning() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try write("outputs:\n  log:\n    path: \(log)\n", "emotiond.yaml")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(2)
        _ = try write("outputs:\n  log: " + String(repeating: "[", count: 5000) + "\n", "emotiond.yaml")
        d.signal(SIGHUP)
        sleep(2)
        XCTAssertNil(d.wait(0), "daemon died on a deep reload: \(d.stderr)")
        XCTAssertTrue(d.stderr.contains("configuration reload rejected, keeping the running one: \(cfg):2: YAML nested deeper than 64 levels"),
                      d.stderr)
        let n = try CLI.linesSoFar(log).count
        sleep(1)
        XCTAssertGreaterThan(try CLI.linesSoFar(log).count, n, "still processing with the old configuration")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
    }

    func testNonRegularConfigFileIsRefusedWithoutHanging() throws {
        let fifo = dir.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (path, kind) in [(fifo, "a FIFO"), (dir.path, "a directory"), ("/dev/zero", "a character device")] {
            let c = try Child(CLI.binary, ["check-config", "--config", path], dir: dir, name: "check-\(kind.count)")
            let rc = c.wait(5)
            XCTAssertEqual(rc, 1, "check-config --config \(path) did not finish: \(c.stderr)")
            XCTAssertEqual(c.stderr, "Error: \(path): is \(kind), not a regular file; the configuration must be a regular file\n")
        }
    }

    // MARK: row 18: options out of range were accepted or crashed

    func testPipelineOptionsOutOfRangeAreRefused() throws {
        let img = CLI.media("multi_face.jpg")
        let r = try CLI.run(["image", img, "--max-age=-1", "--full-detect-every=-3", "--crop-margin", "nan", "--cv-threads", "100000"])
        XCTAssertEqual(r.status, 64, r.stderr)
        for m in ["--full-detect-every must be an integer in 1...1000, got -3", "--crop-margin must be a number in 0...1, got nan",
                  "--max-age must be an integer in 0...10000, got -1", "--cv-threads must be an integer in 0...256, got 100000"] {
            XCTAssertTrue(r.stderr.contains(m), "\(m) in \(r.stderr)")
        }
        XCTAssertEqual(try CLI.run(["image", img, "--smoothing", "0"]).status, 64)
        XCTAssertEqual(try CLI.run(["image", img, "--detect-scale", "inf"]).status, 64)
        let ok = try CLI.run(["image", img, "--cv-threads", "256", "--max-age", "0", "--crop-margin", "0.1"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    // MARK: row 20: the MQTT password in a world-readable configuration

    func testInlinePasswordInAWorldReadableConfigIsWarnedAbout() throws {
        let yaml = "camera:\n  source: \(CLI.media("single_face.mp4"))\noutputs:\n  mqtt:\n    username: u\n    password: secret\n"
        let open = try write(yaml, "open.yaml", mode: 0o644)
        let r = try CLI.run(["check-config", "--config", open])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("emotiond: \(open):6: warning: outputs.mqtt.password: this file is readable by every local user "
                                        + "(mode 644); move the password to password_file"), r.stderr)
        let closed = try CLI.run(["check-config", "--config", try write(yaml, "closed.yaml", mode: 0o640)])
        XCTAssertEqual(closed.status, 0, closed.stderr)
        XCTAssertEqual(closed.stderr, "")
    }

    /// A broker that requires a password: the daemon only gets online with the one from password_file.
    func testPasswordFileAuthenticatesWithTheBroker() throws {
        let port = Int.random(in: 20000...60000)
        let users = dir.appendingPathComponent("users").path
        XCTAssertEqual(try CLI.run(["-b", "-c", users, "cam", "pa ss:wörd"], executable: "/usr/bin/mosquitto_passwd").status, 0)
        let conf = try write("listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(users)\npersistence false\n", "mosquitto.conf")
        let broker = try Child("/usr/sbin/mosquitto", ["-c", conf], dir: dir, name: "mosquitto")
        defer { broker.signal(SIGKILL) }
        usleep(500_000)
        let sub = try Child("/usr/bin/mosquitto_sub", ["-h", "127.0.0.1", "-p", "\(port)", "-u", "cam", "-P", "pa ss:wörd", "-t", "pw/#", "-v"],
                            dir: dir, name: "sub")
        defer { sub.signal(SIGTERM) }
        // The credential as systemd's LoadCredential= leaves it: a file with a trailing newline.
        let creds = dir.appendingPathComponent("creds")
        try FileManager.default.createDirectory(at: creds, withIntermediateDirectories: true)
        _ = try write("pa ss:wörd\n", "creds/mqtt-password")
        let cfg = try write("camera:\n  name: c1\noutputs:\n  mqtt:\n    enabled: true\n    port: \(port)\n    topic_prefix: pw\n"
                            + "    username: cam\n    password_file: ${CREDENTIALS_DIRECTORY}/mqtt-password\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")],
                          env: ["CREDENTIALS_DIRECTORY": creds.path], dir: dir, name: "daemon")
        let subOut = dir.appendingPathComponent("sub.stdout").path
        let end = Date().addingTimeInterval(15)
        while Date() < end, !((try? String(contentsOfFile: subOut, encoding: .utf8)) ?? "").contains("pw/available online") { usleep(100_000) }
        XCTAssertTrue(((try? String(contentsOfFile: subOut, encoding: .utf8)) ?? "").contains("pw/available online"),
                      "daemon did not authenticate: \(d.stderr)")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
    }

    func testMakeInstallLeavesTheConfigUnreadableToOthersAndKeepsAnExistingOne() throws {
        let dest = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dest) }
        let r = try CLI.run(["install", "DESTDIR=\(dest.path)", "PREFIX=/usr/local"], executable: "/usr/bin/make")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let cfg = dest.appendingPathComponent("etc/emotiond/emotiond.yaml").path
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: cfg)[.posixPermissions] as? Int, 0o640)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dest.appendingPathComponent("usr/local/lib/sysusers.d/emotiond.conf").path))
        // An existing configuration is neither overwritten nor re-permissioned; a world-readable one is reported.
        try "camera: {name: mine}\n".write(toFile: cfg, atomically: false, encoding: .utf8)
        chmod(cfg, 0o644)
        let again = try CLI.run(["install", "DESTDIR=\(dest.path)", "PREFIX=/usr/local"], executable: "/usr/bin/make")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try String(contentsOfFile: cfg, encoding: .utf8), "camera: {name: mine}\n")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: cfg)[.posixPermissions] as? Int, 0o644)
        XCTAssertTrue(again.stdout.contains("note: \(cfg) is readable by every local user"), again.stdout)
    }
}
