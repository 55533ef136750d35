import Foundation
import Settings
import XCTest
@testable import Sinks

/// Connections that never succeed (wrong password, TLS host name mismatch, plain MQTT on a TLS
/// port, nothing listening) against real mosquitto brokers: every attempt is reported to
/// `onFailure` with its reason, and `onLog` says it once per change of state, not per retry.
final class MQTTConnectErrorTests: XCTestCase {
    var dir: URL!
    var brokers: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-err-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for b in brokers where b.isRunning { b.terminate(); b.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    /// A loopback port nothing listens on now (the kernel's choice, so other tests' ports are avoided).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET); a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        return ok ? Int(UInt16(bigEndian: a.sin_port)) : Int.random(in: 20000...60000)
    }

    @discardableResult
    func run(_ exe: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Starts mosquitto with `conf` (the listener line is added) on a random port; ready when it accepts TCP.
    func broker(_ conf: String, port: Int = MQTTConnectErrorTests.freePort()) throws -> Int {
        let path = dir.appendingPathComponent("broker-\(port).conf")
        try "listener \(port) 127.0.0.1\npersistence false\n\(conf)".write(to: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        p.arguments = ["-c", path.path]
        p.standardError = FileHandle.nullDevice
        try p.run()
        brokers.append(p)
        let end = Date().addingTimeInterval(5)
        while Date() < end {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET); a.sin_port = UInt16(port).bigEndian; a.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if rc == 0 { return port }
            usleep(50_000)
        }
        XCTFail("mosquitto did not start with \(conf)")
        return port
    }

    /// A self-signed server certificate (also its own CA file); `san` e.g. "IP:127.0.0.1", nil for none.
    func certificate(_ name: String, cn: String, san: String?) throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("\(name).crt").path, key = dir.appendingPathComponent("\(name).key").path
        var args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=\(cn)"]
        if let san { args += ["-addext", "subjectAltName=\(san)"] }
        XCTAssertEqual(try run("/usr/bin/openssl", args), 0)
        // mosquitto started as root reads its files as the mosquitto user.
        chmod(key, 0o644)
        return (cert, key)
    }

    final class Seen: @unchecked Sendable {
        let lock = NSLock()
        var logs: [String] = [], failures: [MQTTFailure] = []
        func log(_ s: String) { lock.lock(); logs.append(s); lock.unlock() }
        func fail(_ f: MQTTFailure) { lock.lock(); failures.append(f); lock.unlock() }
        var snapshot: ([String], [MQTTFailure]) { lock.lock(); defer { lock.unlock() }; return (logs, failures) }
    }

    /// Runs a publisher for `seconds` (attempts at about 0, 1 and 3 s), then what it reported.
    func attempts(_ s: MQTTSettings, seconds: Double = 3.6) throws -> (logs: [String], failures: [MQTTFailure], connected: Bool) {
        let seen = Seen()
        let pub = try MQTTPublisher(settings: s, onLog: seen.log, onFailure: seen.fail)
        Thread.sleep(forTimeInterval: seconds)
        let connected = pub.isConnected
        pub.shutdown()
        let (l, f) = seen.snapshot
        return (l, f, connected)
    }

    func settings(_ port: Int) -> MQTTSettings {
        var s = MQTTSettings()
        s.port = port; s.clientID = "err-test-\(port)"; s.topicPrefix = "err"
        return s
    }

    /// Several failed attempts, all with `label`; exactly one log line, containing `says`.
    func assertFailsOnce(_ r: (logs: [String], failures: [MQTTFailure], connected: Bool), label: String, says: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.connected, file: file, line: line)
        XCTAssertGreaterThanOrEqual(r.failures.count, 3, "\(r.failures)", file: file, line: line)
        XCTAssertEqual(Set(r.failures.map(\.label)), [label], file: file, line: line)
        XCTAssertEqual(r.logs.count, 1, "\(r.logs)", file: file, line: line)
        XCTAssertTrue(r.logs.first?.contains(says) ?? false, "\(r.logs)", file: file, line: line)
    }

    func testWrongPassword() throws {
        let pw = dir.appendingPathComponent("passwd").path
        FileManager.default.createFile(atPath: pw, contents: nil)
        XCTAssertEqual(try run("/usr/bin/mosquitto_passwd", ["-b", pw, "cam", "right"]), 0)
        chmod(pw, 0o644)
        let port = try broker("allow_anonymous false\npassword_file \(pw)\n")
        var s = settings(port)
        s.username = "cam"; s.password = "wrong"
        assertFailsOnce(try attempts(s), label: "not_authorized", says: "cannot connect to 127.0.0.1:\(port): Connection Refused: not authorised.")
        s.password = "right"
        let ok = try attempts(s, seconds: 1)
        XCTAssertTrue(ok.connected)
        XCTAssertEqual(ok.logs, ["mqtt: connected to 127.0.0.1:\(port)"])
        XCTAssertEqual(ok.failures, [])
    }

    func testTLSHostNameMismatch() throws {
        let wrong = try certificate("wrong", cn: "wronghost.example", san: nil)
        let port = try broker("allow_anonymous true\ncertfile \(wrong.cert)\nkeyfile \(wrong.key)\n")
        var s = settings(port)
        s.caFile = wrong.cert
        assertFailsOnce(try attempts(s), label: "tls", says: "TLS: Error: host name verification failed.")
        // The same with a certificate for 127.0.0.1 connects: the failure above was the host name.
        let right = try certificate("right", cn: "localhost", san: "IP:127.0.0.1")
        let port2 = try broker("allow_anonymous true\ncertfile \(right.cert)\nkeyfile \(right.key)\n")
        var s2 = settings(port2)
        s2.caFile = right.cert
        XCTAssertTrue(try attempts(s2, seconds: 1.5).connected)
    }

    func testPlainClientOnTLSPort() throws {
        let c = try certificate("srv", cn: "localhost", san: "IP:127.0.0.1")
        let port = try broker("allow_anonymous true\ncertfile \(c.cert)\nkeyfile \(c.key)\n")
        assertFailsOnce(try attempts(settings(port)), label: "connection_lost", says: "connection closed before CONNACK")
    }

    func testNothingListening() throws {
        let port = MQTTConnectErrorTests.freePort()
        assertFailsOnce(try attempts(settings(port)), label: "connection_refused", says: "Connection refused")
    }

    /// A broker that comes back after refusing us: the state changes are said once each.
    func testStateChangesAreSaidOnceEach() throws {
        let port = MQTTConnectErrorTests.freePort()
        let seen = Seen()
        let pub = try MQTTPublisher(settings: settings(port), onLog: seen.log, onFailure: seen.fail)
        Thread.sleep(forTimeInterval: 1.5)
        _ = try broker("allow_anonymous true\n", port: port)
        let end = Date().addingTimeInterval(8)
        while Date() < end && !pub.isConnected { usleep(50_000) }
        XCTAssertTrue(pub.isConnected)
        brokers[0].terminate(); brokers[0].waitUntilExit()
        Thread.sleep(forTimeInterval: 2.5)
        pub.shutdown()
        let (logs, _) = seen.snapshot
        XCTAssertEqual(logs.count, 4, "\(logs)")
        guard logs.count == 4 else { return }
        XCTAssertTrue(logs[0].contains("Connection refused"), "\(logs)")
        XCTAssertEqual(logs[1], "mqtt: connected to 127.0.0.1:\(port)")
        XCTAssertTrue(logs[2].hasPrefix("mqtt: connection to 127.0.0.1:\(port) lost: "), "\(logs)")
        XCTAssertTrue(logs[3].contains("Connection refused"), "\(logs)")
    }
}

/// A reload that changes the MQTT settings hands the old publisher's queue to the new one.
final class MQTTAdoptTests: XCTestCase {
    func testAdoptKeepsQueueOrderAndCountsWhatDoesNotFit() throws {
        let port = MQTTConnectErrorTests.freePort()   // nothing listens: both only queue
        var s = MQTTSettings()
        s.port = port; s.queueSize = 5; s.clientID = "adopt-\(port)"
        let old = try MQTTPublisher(settings: s, start: false)
        for i in 0..<7 { old.publish("a/m", Data("m\(i)".utf8)) }
        XCTAssertEqual(old.queued, 5)
        XCTAssertEqual(old.dropped, 2)
        s.queueSize = 3
        let new = try MQTTPublisher(settings: s, start: false)
        new.adopt(old)
        XCTAssertEqual(old.queued, 0)
        XCTAssertEqual(new.queued, 3, "the newest three of the old queue")
        XCTAssertEqual(new.dropped, 4, "2 before, 2 more that did not fit")
        new.publish("a/m", Data("m7".utf8))
        XCTAssertEqual(new.queued, 3)
        XCTAssertEqual(new.dropped, 5)
        XCTAssertEqual(old.shutdown(), 0)
        XCTAssertEqual(new.shutdown(), 3, "what was never sent is reported")
    }
}
