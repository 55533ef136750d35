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
        print("\(config): OK (camera '\(c.camera.name)', source \(c.camera.source.map(Credentials.redactURL) ?? c.camera.device), detector \(c.detector.kind.rawValue), mqtt \(c.mqtt.enabled ? "\(c.mqtt.host):\(c.mqtt.port)" : "off"), log \(c.log.path ?? "off"), http \(c.http.listen.map { "\($0)\(c.http.token == nil ? "" : " with token")" } ?? "off"))")
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
        if let source { p.config.camera.source = source; p.invalid.remove("camera.source") }
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
        return errors
    }
}

/// The model and cascade the last start check loaded, taken by the runtime built right after
/// it from the same settings.
final class Preloaded: @unchecked Sendable {
    static let shared = Preloaded()
    private let lock = NSLock()
    private var entry: (model: EmotiondConfig.Model, detector: DetectorConfig, EmotionClassifier, CascadeDetector)?

    func put(_ c: EmotiondConfig, _ m: EmotionClassifier, _ d: CascadeDetector) {
        lock.lock(); entry = (c.model, c.detector, m, d); lock.unlock()
    }

    /// The loaded pair if it was loaded for `c`'s model and detector settings; taken once.
    func take(for c: EmotiondConfig) -> (EmotionClassifier, CascadeDetector)? {
        lock.lock(); defer { entry = nil; lock.unlock() }
        guard let e = entry, e.model == c.model, e.detector == c.detector else { return nil }
        return (e.2, e.3)
    }
}
