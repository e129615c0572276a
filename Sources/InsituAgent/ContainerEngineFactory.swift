import InsituContainer
import InsituExecutor
import Logging

/// Builds the node's container engine from `engines.container`, or nothing.
///
/// Off unless the node config names a socket. When it does, the engine is offered only if the
/// socket answers the Docker Engine API's `/_ping` at the agent's start; otherwise the agent
/// starts without it and says why. Containers a previous run of this agent left behind (it was
/// killed before it could remove them) are removed first: executions never outlive the agent.
enum ContainerEngineFactory {
    static let pingTimeout = Duration.seconds(3)
    /// Carried by every container of this agent, with its data directory as the value.
    static let agentLabel = "insitu.agent"

    static func make(config: AgentConfig, logger: Logger) async -> ContainerExecutor? {
        guard let settings = config.container else { return nil }
        let client = DockerEngineClient(socketPath: settings.socket)
        do {
            try await client.ping(timeout: pingTimeout)
        } catch {
            logger.warning(
                "engines.container.socket does not answer: this node does not offer the container engine",
                metadata: ["socket": "\(settings.socket)", "error": "\(error)"])
            return nil
        }
        let label = "\(agentLabel)=\(config.dataDirectory)"
        do {
            for id in try await client.containers(label: label) {
                try await client.removeContainer(id)
                logger.info("removed a container a previous run of this agent left behind", metadata: ["container": "\(id.prefix(12))"])
            }
        } catch {
            logger.warning("cannot list or remove containers left behind by a previous run", metadata: ["error": "\(error)"])
        }
        logger.info("container engine available", metadata: ["socket": "\(settings.socket)", "images": "\(settings.allowedImages.count)"])
        return ContainerExecutor(
            client: client, allowList: ImageAllowList(settings.allowedImages),
            policy: ContainerPolicy(pidsLimit: settings.pidsLimit, labels: [agentLabel: config.dataDirectory]))
    }
}
