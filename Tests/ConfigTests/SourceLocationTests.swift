import Foundation
import Settings
import XCTest
@testable import Config

/// `camera.source` as a path or URL, and the redaction of credentials that every log line,
/// error and output of a network source goes through.
final class SourceLocationTests: XCTestCase {
    func testParsesPathsAndURLs() throws {
        XCTAssertEqual(try SourceLocation.parse("media/clip.mp4"), .path("media/clip.mp4"))
        XCTAssertEqual(try SourceLocation.parse("/tmp/a:b.mp4"), .path("/tmp/a:b.mp4"))
        XCTAssertEqual(try SourceLocation.parse("file:///tmp/my%20clip.mp4"), .path("/tmp/my clip.mp4"))
        XCTAssertEqual(try SourceLocation.parse("file://localhost/tmp/x.mp4"), .path("/tmp/x.mp4"))
        for u in ["rtsp://cam/stream", "RTSP://u:p@10.0.0.2:554/h264", "rtsps://cam:322/x", "http://[::1]:8080/x.ts",
                  "https://user:p%40ss@cam.example/live.m3u8?x=1"] {
            XCTAssertEqual(try SourceLocation.parse(u), .network(u))
        }
    }

    func testRefusesWithReasonAndNoSecret() {
        func why(_ s: String) -> String {
            do { _ = try SourceLocation.parse(s); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(why("ftp://a:Secret@h/x"),
                       "unsupported URL scheme 'ftp' in ftp://a:***@h/x (allowed: a file path, or a URL with scheme rtsp, rtsps, http, https or file)")
        XCTAssertEqual(why("rtsp://a:Secret@h:0/x"), "rtsp://a:***@h:0/x: the port must be a number in 1...65535")
        XCTAssertEqual(why("rtsp://a:Secret@/x"), "rtsp://a:***@/x: no host (expected SCHEME://[USER:PASSWORD@]HOST[:PORT]/PATH)")
        XCTAssertEqual(why("rtsp://a:Sec ret@h/x"), "rtsp://a:***@h/x: URLs must not contain spaces or control characters (percent-encode them)")
        XCTAssertEqual(why("file://otherhost/x.mp4"), "file://otherhost/x.mp4: a file URL must name a local file (file:///path)")
        // An unencoded '/' in the password ends the host as FFmpeg reads it: refused, nothing echoed.
        XCTAssertEqual(why("rtsp://a:Sec/ret@h/x"), "rtsp://***@h/x: the port must be a number in 1...65535")
    }

    func testRedactsCredentialsInText() {
        XCTAssertEqual(Credentials.redact("source lost: rtsp://admin:pw@10.0.0.2/h264: timeout"),
                       "source lost: rtsp://admin:***@10.0.0.2/h264: timeout")
        XCTAssertEqual(Credentials.redact("a http://u:p@x:80/y and rtsps://TOKEN@cam/z."), "a http://u:***@x:80/y and rtsps://***@cam/z.")
        XCTAssertEqual(Credentials.redact("rtsp://cam/x?user=admin&password=pw&channel=1"), "rtsp://cam/x?user=admin&password=***&channel=1")
        XCTAssertEqual(Credentials.redact("http://h/a@b"), "http://***@b", "an '@' after a '/' may end a password: all goes")
        XCTAssertEqual(Credentials.redact("no url here: user:pw@host"), "no url here: user:pw@host")
        XCTAssertEqual(Credentials.redactURL("rtsp://u:p@ss w@h/x"), "rtsp://u:***@h/x")
        XCTAssertEqual(Credentials.redactURL("rtsp://u:p/q@h/x"), "rtsp://***@h/x", "an ambiguous user part goes whole")
        XCTAssertEqual(Credentials.redactURL("/plain/path.mp4"), "/plain/path.mp4")
    }

    func testNetworkKeysRangesAndCrossCheck() throws {
        let c = try ConfigLoader.parse("camera:\n  rtsp_transport: udp\n  open_timeout: 2.5\n  read_timeout: 1\n"
                                       + "  reconnect_delay: 0.5\n  reconnect_max_delay: 4\n", file: "t.yaml")
        XCTAssertEqual(c.camera.rtspTransport, "udp")
        XCTAssertEqual([c.camera.openTimeout, c.camera.readTimeout, c.camera.reconnectDelay, c.camera.reconnectMaxDelay], [2.5, 1, 0.5, 4])
        var p = ConfigLoader.decode(Array("camera:\n  source: rtsp://cam/x\n  reconnect_delay: 5\n  reconnect_max_delay: 2\n".utf8),
                                    file: "t.yaml")
        StartChecks.run(&p)
        XCTAssertEqual(p.errors.map(\.description), ["t.yaml:4: camera.reconnect_max_delay: must be at least reconnect_delay (5)"])
    }
}
