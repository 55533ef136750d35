import ArgumentParser
import Config
import Detection
import Foundation
import Pipeline
import Settings

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration file without running.")
    @Option(help: "Configuration file.") var config: String = "/etc/emotiond/emotiond.yaml"

    func run() throws {
        let c: EmotiondConfig
        do { c = try Preflight.load(path: config, source: nil) } catch let e as ConfigErrors { throw RunError("\(e)") }
        let cams = c.cameraConfigs.map { "camera '\($0.camera.name)', source \($0.camera.source.map(Credentials.redactURL) ?? $0.camera.device)" }
        print("\(config): OK (\(cams.joined(separator: "; ")), detector \(c.detector.kind.rawValue), mqtt \(c.mqtt.enabled ? "\(c.mqtt.host):\(c.mqtt.port)" : "off"), log \(c.log.path ?? "off"), http \(c.http.listen.map { "\($0)\(c.http.token == nil ? "" : " with token")" } ?? "off"))")
    }
}

/// The one validation path: `check-config`, the start of `run` and every SIGHUP reload call
/// `load`, so a configuration check-config calls OK is one `run` starts with.
enum Preflight {
    /// Reads the file (nil: built-in defaults), applies `--source`, and makes every start check;
    /// throws all problems at once. Warnings go to stderr.
    static func load(path: String?, source: String?) throws -> EmotiondConfig {
        var p: ParsedConfig
        if let path { p = ConfigLoader.read(path: path) } else { p = ParsedConfig(file: "<defaults>") }
        if let source {
            if !p.config.cameras.isEmpty {
                throw RunError("--source replaces the one camera's source; \(p.config.file) has a cameras: map "
                               + "(set each camera's source there)")
            }
            p.config.camera.source = source; p.invalid.remove("camera.source")
        }
        for w in p.warnings { logger.warning("emotiond: \(w)") }
        StartChecks.run(&p)
        if p.readable { p.errors += modelAndDetectorErrors(p) }
        if !p.errors.isEmpty { throw ConfigErrors(p.errors) }
        return p.config
    }

    /// Loads the model and cascade as `run` does, reporting both when both are wrong. When
    /// both load, they are kept for the runtime `run` builds next (one load at start, not two).
    static func modelAndDetectorErrors(_ p: ParsedConfig) -> [ConfigError] {
        var errors: [ConfigError] = []
        var model: EmotionClassifier?, detector: CascadeDetector?
        if !p.isInvalid("model") {
            do { model = try RunCommand.loadModel(p.config) } catch let e as ConfigError { errors.append(e) } catch {
                errors.append(p.config.error("model.path", "\(error)"))
            }
        }
        if !p.isInvalid("detector") {
            do { detector = try RunCommand.loadDetector(p.config) } catch let e as ConfigError { errors.append(e) } catch {
                errors.append(p.config.error("detector.kind", "\(error)"))
            }
        }
        if let model, let detector { Preloaded.shared.put(p.config, model, detector) }
        return errors + cameraDetectorErrors(p)
    }

    /// Each camera of a `cameras:` map with a detector of its own: its cascade loads (and is kept
    /// for that camera's runtime, as the top level's is).
    static func cameraDetectorErrors(_ p: ParsedConfig) -> [ConfigError] {
        p.config.cameras.isEmpty ? [] : p.config.cameraConfigs.compactMap { c in
            guard c.detector != p.config.detector, !p.isInvalid(c.writtenKeys["detector.kind"] ?? "detector") else { return nil }
            do { Preloaded.shared.keep(c.detector, try RunCommand.loadDetector(c)); return nil } catch let e as ConfigError { return e } catch {
                return c.error("detector.kind", "\(error)")
            }
        }
    }
}

/// The model and cascade the last start check loaded, taken by the runtime built right after
/// it from the same settings (one load at start, not two).
final class Preloaded: @unchecked Sendable {
    static let shared = Preloaded()
    private let lock = NSLock()
    private var model: (EmotiondConfig.Model, EmotionClassifier)?
    /// One per camera the check loaded a cascade for (a cascade has one camera); replaced by each check.
    private var detectors: [(DetectorConfig, CascadeDetector)] = []

    func put(_ c: EmotiondConfig, _ m: EmotionClassifier, _ d: CascadeDetector) {
        lock.lock(); model = (c.model, m); detectors = [(c.detector, d)]; lock.unlock()
    }

    /// A camera's own cascade, loaded by the check after `put`.
    func keep(_ settings: DetectorConfig, _ d: CascadeDetector) {
        lock.lock(); detectors.append((settings, d)); lock.unlock()
    }

    /// The loaded model if it was loaded for these settings; taken once.
    func takeModel(for m: EmotiondConfig.Model) -> EmotionClassifier? {
        lock.lock(); defer { model = nil; lock.unlock() }
        return model?.0 == m ? model?.1 : nil
    }

    /// A cascade loaded for these settings; each is taken once (a cascade has one camera).
    func takeDetector(for d: DetectorConfig) -> CascadeDetector? {
        lock.lock(); defer { lock.unlock() }
        guard let i = detectors.firstIndex(where: { $0.0 == d }) else { return nil }
        return detectors.remove(at: i).1
    }
}
