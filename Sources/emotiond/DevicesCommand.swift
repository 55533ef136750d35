import ArgumentParser
import Capture
import Foundation

/// `emotiond devices`: V4L2 devices with driver, card, capabilities, formats, sizes and rates.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "List video capture devices and what they support.")
    @Argument(help: "Device paths (default: every /dev/video*).") var paths: [String] = []

    func run() throws {
        var list = paths
        if list.isEmpty {
            list = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter { $0.hasPrefix("video") }.sorted().map { "/dev/\($0)" }
        }
        if list.isEmpty { print("no video devices (/dev/video*) found"); return }
        var failed = false
        for p in list {
            do {
                let d = try V4L2Camera.describe(p)
                print("\(d.path): \(d.card) (driver \(d.driver), \(d.bus)); \(d.capabilities.joined(separator: ", "))")
                for f in d.formats {
                    print("  \(f.fourcc) \(f.description)")
                    for s in f.sizes { print("    \(s.0)x\(s.1) @ \(s.2.map { String(format: "%g", $0) }.joined(separator: ", ")) fps") }
                }
            } catch {
                logger.error("emotiond: \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
