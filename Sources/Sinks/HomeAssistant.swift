import EmotionCore
import Foundation

/// Home Assistant MQTT discovery of one camera (https://www.home-assistant.io/integrations/mqtt/,
/// "MQTT Discovery"): one device per camera with three entities that read the retained state
/// topic through value templates, available while the daemon's `<prefix>/available` says
/// `online`. Topics: `<discovery_prefix>/<component>/<node_id>/<object_id>/config`, retained; an
/// empty retained payload on the same topic removes the entity.
public struct HomeAssistantDiscovery: Equatable, Sendable {
    public enum Component: String, Sendable { case sensor, binarySensor = "binary_sensor" }

    public struct Entity: Equatable, Sendable {
        public var component: Component
        public var objectID: String
        public var config: HomeAssistantConfig
    }

    public let prefix: String
    public let topics: MQTTTopics
    public let version: String
    /// The model's labels: the dominant-emotion sensor's options (a reload with another model
    /// changes them, and the discovery is published again).
    public let labels: [String]

    /// - Parameters:
    ///   - prefix: Home Assistant's discovery prefix (`outputs.mqtt.discovery_prefix`).
    ///   - version: emotiond's version, shown on the device.
    public init(prefix: String, topics: MQTTTopics, version: String, labels: LabelSet = .fer2013) {
        self.prefix = prefix; self.topics = topics; self.version = version; self.labels = labels.names
    }

    /// `<topic prefix>_<camera>` with every character outside [A-Za-z0-9_-] made `_`, the only ones
    /// Home Assistant allows in a node id. The MQTT topics need the pair to be unique per camera
    /// already, so it names the device too. A long prefix is cut (topic length); the camera name
    /// (at most 64 such characters) stays whole.
    public var nodeID: String {
        let safe = { (s: String) in
            String(s.unicodeScalars.map { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")) ? Character($0) : "_" })
        }
        return "\(safe(String(topics.prefix.prefix(100))))_\(topics.camera)"
    }

    public var entities: [Entity] {
        return [
            entity(.sensor, "dominant_emotion", "Dominant emotion", template: "{{ value_json.dominant or 'none' }}") {
                // An enum sensor: automations offer the labels; "none" while no face is seen.
                $0.deviceClass = "enum"; $0.options = labels + ["none"]; $0.icon = "mdi:emoticon-outline"
            },
            entity(.sensor, "faces", "Faces", template: "{{ value_json.faces }}") {
                $0.stateClass = "measurement"; $0.icon = "mdi:account-multiple"
            },
            entity(.binarySensor, "face_present", "Face present", template: "{{ 'ON' if value_json.faces > 0 else 'OFF' }}") {
                $0.deviceClass = "occupancy"; $0.payloadOn = "ON"; $0.payloadOff = "OFF"
            },
        ]
    }

    public func configTopic(_ e: Entity) -> String { "\(prefix)/\(e.component.rawValue)/\(nodeID)/\(e.objectID)/config" }
    public var configTopics: [String] { entities.map(configTopic) }

    public func messages() throws -> [(topic: String, payload: Data)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try entities.map { (configTopic($0), try encoder.encode($0.config)) }
    }

    private func entity(_ component: Component, _ objectID: String, _ name: String, template: String,
                        _ customize: (inout HomeAssistantConfig) -> Void) -> Entity {
        var c = HomeAssistantConfig(
            name: name, uniqueID: "\(nodeID)_\(objectID)", stateTopic: topics.state, valueTemplate: template,
            availabilityTopic: topics.availability,
            device: .init(identifiers: [nodeID], name: "emotiond \(topics.camera)", manufacturer: "emotiond",
                          model: "facial-emotion camera", swVersion: version),
            origin: .init(name: "emotiond", swVersion: version))
        customize(&c)
        return Entity(component: component, objectID: objectID, config: c)
    }
}

/// One entity's discovery payload: the keys of Home Assistant's MQTT sensor and binary sensor
/// configuration, unabbreviated (readable on the broker; the payloads are small). No
/// `json_attributes_topic`: attributes on the refreshed state topic would force a recorder write
/// every `state_interval`.
public struct HomeAssistantConfig: Codable, Equatable, Sendable {
    public struct Device: Codable, Equatable, Sendable {
        public var identifiers: [String]
        public var name: String
        public var manufacturer: String
        public var model: String
        public var swVersion: String
        enum CodingKeys: String, CodingKey { case identifiers, name, manufacturer, model, swVersion = "sw_version" }
    }
    /// Who published the discovery message (shown in Home Assistant's logs).
    public struct Origin: Codable, Equatable, Sendable {
        public var name: String
        public var swVersion: String
        enum CodingKeys: String, CodingKey { case name, swVersion = "sw_version" }
    }
    public var name: String
    public var uniqueID: String
    public var stateTopic: String
    public var valueTemplate: String
    public var availabilityTopic: String
    public var payloadAvailable = "online"
    public var payloadNotAvailable = "offline"
    public var device: Device
    public var origin: Origin
    public var deviceClass: String? = nil
    public var stateClass: String? = nil
    public var options: [String]? = nil
    public var payloadOn: String? = nil
    public var payloadOff: String? = nil
    public var icon: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, uniqueID = "unique_id", stateTopic = "state_topic", valueTemplate = "value_template"
        case availabilityTopic = "availability_topic", payloadAvailable = "payload_available"
        case payloadNotAvailable = "payload_not_available", device, origin, deviceClass = "device_class"
        case stateClass = "state_class", options, payloadOn = "payload_on", payloadOff = "payload_off", icon
    }
}
