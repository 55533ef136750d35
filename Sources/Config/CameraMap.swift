import Foundation
import Settings
import Yams

/// The `cameras:` map: name → one camera's source and settings. Read after the rest of the file,
/// so each entry starts from the top level's values (`camera:`, `detector:`, ... are the defaults
/// of every camera) whatever order the sections come in.
enum CameraMap {
    static func read(_ root: Node, _ r: Reader, _ c: inout EmotiondConfig) {
        guard case let .mapping(top) = root, let (_, node) = top.first(where: { $0.key.string == "cameras" }) else { return }
        guard !r.isNull(node) else { return }
        guard case let .mapping(m) = node, !m.isEmpty else {
            r.errors.append(r.err(node, "cameras", "expected a mapping of camera names to their settings, e.g.\n"
                                  + "  cameras:\n    door: {source: rtsp://192.168.1.20/stream1}\n    desk: {device: /dev/video0}"))
            r.invalid.insert("cameras")
            return
        }
        if let named = r.lines["camera.name"] {
            r.errors.append(ConfigError(file: r.file, key: "camera.name", line: named,
                                        message: "with a cameras: map each camera is named by its key there; remove camera.name"))
        }
        var seen = Set<String>()
        for (k, v) in m {
            guard let name = entryName(k, r), seen.insert(name).inserted else {
                if case let .scalar(s) = k, seen.contains(s.string) {
                    r.errors.append(r.err(k, "cameras.\(s.string)", "duplicate camera name (each camera once)"))
                }
                continue
            }
            c.cameras.append(entry(name, v, r, c))
        }
        r.errors += conflicts(c)
    }

    /// A camera name as `camera.name` allows it (it becomes an MQTT topic level and a file name).
    static func entryName(_ k: Node, _ r: Reader) -> String? {
        guard case let .scalar(s) = k else {
            r.errors.append(r.err(k, "cameras", "camera names must be plain strings")); return nil
        }
        do { return try r.string(k, "cameras.\(s.string)", Schema.cameraName) } catch let e as ConfigError {
            r.errors.append(e); r.invalid.insert("cameras.\(s.string)"); return nil
        } catch { return nil }
    }

    /// One entry, walked onto a copy of the top level; its keys recorded in the model's names.
    static func entry(_ name: String, _ v: Node, _ r: Reader, _ top: EmotiondConfig) -> EmotiondConfig.CameraEntry {
        var c = top
        c.camera.name = name
        let prefix = "cameras.\(name)"
        let before = Set(r.lines.keys)
        r.walk(v, prefix, Schema.cameraEntry, &c)
        var e = EmotiondConfig.CameraEntry(of: c)
        for (written, line) in r.lines where !before.contains(written) && written.hasPrefix(prefix + ".") {
            let own = modelKey(String(written.dropFirst(prefix.count + 1)))
            e.origin[own] = line; e.writtenKeys[own] = written
        }
        // Keys not set in the entry are the top level's: errors about them name the top-level key.
        e.origin["camera.name"] = r.line(v)
        e.writtenKeys["camera.name"] = prefix
        return e
    }

    /// `source` → `camera.source`; `detector.scale`, `outputs.log.path` stay as they are.
    static func modelKey(_ k: String) -> String {
        let first = String(k.prefix { $0 != "." })
        return Schema.cameraFields.contains { $0.name == first } ? "camera.\(k)" : k
    }

    /// Settings two cameras cannot share: a V4L2 device (one reader at a time) and a log file
    /// (two writers would interleave and rotate each other's lines).
    static func conflicts(_ c: EmotiondConfig) -> [ConfigError] {
        var errors: [ConfigError] = [], devices: [String: String] = [:], logs: [String: String] = [:]
        for cc in c.cameraConfigs {
            let name = cc.camera.name
            if cc.camera.source == nil, let other = devices.updateValue(name, forKey: cc.camera.device) {
                errors.append(cc.error("camera.device", "\(cc.camera.device) is also camera '\(other)''s device; "
                                       + "a V4L2 device has one reader"))
            }
            if let path = cc.log.path, let other = logs.updateValue(name, forKey: path) {
                errors.append(cc.error("outputs.log.path", "\(path) is also camera '\(other)''s log; give each camera "
                                       + "its own file, e.g. /var/log/emotiond/\(EmotiondConfig.cameraPlaceholder).ndjson"))
            }
        }
        return errors
    }
}
