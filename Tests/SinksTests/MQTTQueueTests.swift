import Foundation
import Settings
import XCTest
@testable import Sinks

/// The bounded MQTT queue: while the broker is unreachable the oldest messages are dropped
/// (and counted); when it comes up the rest are delivered, after the availability message.
final class MQTTQueueTests: XCTestCase {
    func testDropOldestThenDeliverOnConnect() throws {
        let port = Int.random(in: 20000...60000)
        var s = MQTTSettings()
        s.port = port; s.queueSize = 3; s.clientID = "queue-test-\(port)"; s.topicPrefix = "qt"
        let pub = try MQTTPublisher(settings: s)
        for i in 0..<10 { pub.publish("qt/m", Data("msg\(i)".utf8)) }
        XCTAssertFalse(pub.isConnected)
        XCTAssertEqual(pub.queued, 3)
        XCTAssertEqual(pub.dropped, 7)

        // Bring a real broker up on that port with a subscriber, then wait for the backoff reconnect.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let conf = dir.appendingPathComponent("m.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\n".write(to: conf, atomically: true, encoding: .utf8)
        let broker = Process()
        broker.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        broker.arguments = ["-c", conf.path]
        broker.standardError = FileHandle.nullDevice
        try broker.run()
        defer { broker.terminate(); broker.waitUntilExit() }
        usleep(300_000)
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        sub.arguments = ["-p", "\(port)", "-t", "qt/#", "-v", "-C", "4", "-W", "40"]
        let out = Pipe()
        sub.standardOutput = out
        try sub.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        sub.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, ["qt/available online", "qt/m msg7", "qt/m msg8", "qt/m msg9"])
        XCTAssertTrue(pub.isConnected)
        XCTAssertEqual(pub.queued, 0)
        pub.shutdown()
    }
}
