// engine/serialized_message.h — a message already serialized, written to a gRPC stream as is.
//
// The live queue holds each message as one grpc::Slice (one allocation, one copy of the bytes).
// Written through a grpc::ByteBuffer, the same message would cost two more allocations: gRPC
// copies a ByteBuffer it is given to write. Its serializer for this type builds the ByteBuffer
// straight into the call's send buffer instead (docs/performance.md, "allocations per
// message"). Use it as the request type of a grpc::TemplatedGenericStub:
//
//   grpc::TemplatedGenericStub<SerializedMessage, grpc::ByteBuffer> stub(channel);
//   auto stream = stub.PrepareCall(&context, method, cq);
//   stream->Write(SerializedMessage{grpc::Slice(bytes.data(), bytes.size())}, options, tag);

#ifndef SIFT_STREAM_ENGINE_SERIALIZED_MESSAGE_H_
#define SIFT_STREAM_ENGINE_SERIALIZED_MESSAGE_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/impl/serialization_traits.h>
#include <grpcpp/support/slice.h>
#include <grpcpp/support/status.h>

namespace sift_stream::engine {

struct SerializedMessage {
  grpc::Slice bytes;
};

}  // namespace sift_stream::engine

namespace grpc {

template <>
class SerializationTraits<sift_stream::engine::SerializedMessage, void> {
 public:
  // The send buffer references the slice (a reference count, no copy of the bytes).
  static Status Serialize(const sift_stream::engine::SerializedMessage& message,
                          ByteBuffer* buffer, bool* own_buffer) {
    ByteBuffer wrapped(&message.bytes, 1);
    buffer->Swap(&wrapped);
    *own_buffer = true;
    return Status::OK;
  }
  // Nothing reads this type: it only goes out.
  static Status Deserialize(ByteBuffer*, sift_stream::engine::SerializedMessage*) {
    return Status(StatusCode::UNIMPLEMENTED, "SerializedMessage is write-only");
  }
};

}  // namespace grpc

#endif  // SIFT_STREAM_ENGINE_SERIALIZED_MESSAGE_H_
