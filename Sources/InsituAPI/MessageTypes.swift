/// Names of the node protocol's message types, as metrics and logs label them.
extension AgentMessage {
    public var typeName: String {
        switch self {
        case .hello: "hello"
        case .heartbeat: "heartbeat"
        case .executionUpdate: "execution_update"
        case .executionOutput: "execution_output"
        case .executionResult: "execution_result"
        }
    }
}

extension OrchestratorMessage {
    public var typeName: String {
        switch self {
        case .welcome: "welcome"
        case .runExecution: "run_execution"
        case .cancelExecution: "cancel_execution"
        }
    }
}
