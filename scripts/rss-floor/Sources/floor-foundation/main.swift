import Foundation

struct Sample: Codable {
    var count: Int
    var at: Date
}

// Uses what the daemons use at start-up (JSON coding, dates, the environment), says it is ready
// (unbuffered), then sleeps.
let encoded = try JSONEncoder().encode(Sample(count: ProcessInfo.processInfo.environment.count, at: Date()))
FileHandle.standardOutput.write(Data("ready \(encoded.count)\n".utf8))
while true { pause() }
