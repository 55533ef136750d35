import ArgumentParser
import Config
import Foundation

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration file without running.")
    @Option(help: "Configuration file.") var config: String = "/etc/emotiond/emotiond.yaml"

    func run() throws {
        do {
            let c = try ConfigLoader.load(path: config)
            try RunCommand.check(c)
            print("\(config): OK (camera '\(c.camera.name)', source \(c.camera.source ?? c.camera.device ?? "none"), detector \(c.detector.kind.rawValue), mqtt \(c.mqtt.enabled ? "\(c.mqtt.host):\(c.mqtt.port)" : "off"), log \(c.log.path ?? "off"))")
        } catch let e as ConfigError {
            throw RunError("\(e)")
        }
    }
}
