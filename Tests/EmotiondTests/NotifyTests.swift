import Foundation
import XCTest

/// sd_notify against a test NOTIFY_SOCKET: READY, STATUS and WATCHDOG arrive; a stalled
/// source stops the watchdog pings (so systemd would restart the service).
final class NotifyTests: XCTestCase {
    final class NotifySocket {
        let fd: Int32
        let path: String
        private let lock = NSLock()
        private var msgs: [(Date, String)] = []
        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { b in
                let bytes = Array(path.utf8)
                for (i, c) in bytes.enumerated() where i < b.count - 1 { b[i] = c }
            }
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            guard rc == 0 else { throw CocoaError(.fileWriteUnknown) }
            Thread.detachNewThread { [self] in
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = recv(fd, &buf, buf.count, 0)
                    if n <= 0 { return }
                    let s = String(decoding: buf[0..<n], as: UTF8.self)
                    lock.lock(); msgs.append((Date(), s)); lock.unlock()
                }
            }
        }
        var messages: [(Date, String)] { lock.lock(); defer { lock.unlock() }; return msgs }
        deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path) }
    }

    func testReadyStatusWatchdogAndStall() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A live-like source: an MPEG-TS stream through a FIFO whose writer stops mid-stream
        // and keeps the pipe open (a hung camera/stream).
        let ts = dir.appendingPathComponent("clip.ts").path
        let mk = try CLI.run(["-v", "error", "-y", "-i", CLI.media("WolfgangLanger_Pexels.mp4"), "-an", "-c", "copy", "-f", "mpegts", ts], executable: "/usr/bin/ffmpeg")
        XCTAssertEqual(mk.status, 0, mk.stderr)
        let fifo = dir.appendingPathComponent("stream.ts").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let writer = try Child(CLI.python, ["-c", "import sys,time; d=open(sys.argv[1],'rb').read(); f=open(sys.argv[2],'wb'); f.write(d[:len(d)*2//5]); f.flush(); time.sleep(60)", ts, fifo], dir: dir, name: "writer")
        let sock = try NotifySocket(path: dir.appendingPathComponent("notify.sock").path)
        let d = try Child(CLI.binary, ["run", "--source", fifo], env: ["NOTIFY_SOCKET": sock.path, "WATCHDOG_USEC": "900000"], dir: dir, name: "daemon")
        defer { d.signal(SIGKILL); writer.signal(SIGKILL) }
        // Frames flow for a few seconds (40% of a 19.7 s clip, paced in real time), then stall.
        sleep(12)
        XCTAssertNil(d.wait(0), "daemon exited: \(d.stderr)")
        let m = sock.messages
        XCTAssertTrue(m.contains { $0.1.contains("READY=1") }, "\(m.map(\.1))")
        XCTAssertTrue(m.contains { $0.1.hasPrefix("STATUS=") && $0.1.contains("fps") }, "\(m.map(\.1))")
        let pings = m.filter { $0.1 == "WATCHDOG=1" }.map(\.0)
        XCTAssertGreaterThanOrEqual(pings.count, 5, "watchdog pinged while frames flowed")
        let lastPing = try XCTUnwrap(pings.last)
        XCTAssertGreaterThan(Date().timeIntervalSince(lastPing), 2.5, "pings must stop once the source stalls (last \(Date().timeIntervalSince(lastPing)) s ago)")
    }
}
