#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A plain TCP connection to a loopback port, for requests no well-behaved HTTP client sends:
/// half-sent heads, oversized request lines, readers that stop reading.
final class RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawHTTPError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            throw RawHTTPError("connect to 127.0.0.1:\(port): \(message)")
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else {
                if written < 0 && errno == EINTR { continue }
                throw RawHTTPError("send: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Reads until the peer closes, `limit` bytes have arrived, or `timeout` passes, whichever is
    /// first. `closed` says whether the peer closed the connection.
    func read(upTo limit: Int = 1 << 20, timeout: Duration) -> (bytes: [UInt8], closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < limit {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            let (seconds, attoseconds) = left.components
            let millis = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var pollDescriptor = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pollDescriptor, 1, millis)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let wanted = min(buffer.count, limit - received.count)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, wanted, 0) }
            if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { return (received, true) }
            if count > 0 { received += buffer[0..<count] }
        }
        return (received, false)
    }
}

/// The status code of an HTTP response's first line, if it has one.
func statusCode(of response: [UInt8]) -> Int? {
    let line = String(decoding: response.prefix(64), as: UTF8.self).split(separator: "\r\n").first ?? ""
    let parts = line.split(separator: " ")
    guard parts.count >= 2, parts[0].hasPrefix("HTTP/1.") else { return nil }
    return Int(parts[1])
}

struct RawHTTPError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Peak and current resident memory of a process, from /proc (Linux).
struct ProcessMemory {
    var peakBytes: Int64
    var residentBytes: Int64

    init(pid: Int32) throws {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Int64 {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int64(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        peakBytes = field("VmHWM")
        residentBytes = field("VmRSS")
    }
}

/// The number of open descriptors of a process (Linux).
func openDescriptorCount(pid: Int32) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
}
