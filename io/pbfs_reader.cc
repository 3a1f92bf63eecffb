// io/pbfs_reader.cc — see pbfs_reader.h.

#include "io/pbfs_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "io/crc32.h"
#include "io/pbfs_format.h"
#include "io/pbfs_source.h"

namespace sift_stream::io {
namespace {

using pbfs_internal::ByteSource;
using pbfs_internal::LoadLittleEndian32;
using pbfs_internal::LoadLittleEndian64;

// The most the reader asks of its source at once when it has a choice: CRC pieces, backward
// steps over a zero tail, and salvage-scan spans. Matches the source's own read window.
constexpr uint64_t kPieceBytes = ByteSource::kWindowBytes;

// O_DIRECT moves whole logical blocks and 512 bytes is the smallest; a write torn by a crash
// therefore leaves zeros starting at a multiple of this.
constexpr uint64_t kSectorBytes = 512;

// What the salvage scan's filter looks at: a chunk header and the first frame's length.
constexpr uint64_t kScanProbeBytes = kPbfsChunkHeaderBytes + kPbfsFrameHeaderBytes;

// True if `frames` (the body of the chunk at `chunk_offset`) is exactly a sequence of frames.
// Otherwise describes the first frame that does not fit into `*problem`, if not null.
bool FramesTileChunk(absl::string_view frames, uint64_t chunk_offset, std::string* problem) {
  uint64_t at = 0;
  std::string why;
  while (at < frames.size()) {
    const uint64_t left = frames.size() - at;
    if (left < kPbfsFrameHeaderBytes) {
      why = absl::StrCat(" has only ", left, " bytes for its 4-byte length");
      break;
    }
    const uint64_t length = LoadLittleEndian32(frames.data() + at);
    if (length > left - kPbfsFrameHeaderBytes) {
      why = absl::StrCat(" claims ", length, " bytes but only ", left - kPbfsFrameHeaderBytes,
                         " remain in the chunk");
      break;
    }
    at += kPbfsFrameHeaderBytes + length;
  }
  if (at == frames.size()) return true;
  if (problem) {
    *problem = absl::StrCat("chunk at offset ", chunk_offset,
                            ": CRC matches but its frames do not tile it: frame at offset ",
                            chunk_offset + kPbfsChunkHeaderBytes + at, why);
  }
  return false;
}

// The salvage scan's filter. `bytes` starts at a candidate offset and holds at least a
// header (kScanProbeBytes whenever the claimed frames are 4 bytes or more and fit);
// `remaining` is how much of the file lies from there on. A chunk whose length runs past the
// file or whose first frame does not fit in that length cannot be intact; only the rare
// survivors pay for a CRC.
bool MayBeChunk(absl::string_view bytes, uint64_t remaining) {
  const uint64_t frames_bytes = LoadLittleEndian64(bytes.data() + kPbfsCrcBytes);
  if (frames_bytes > remaining - kPbfsChunkHeaderBytes) return false;
  if (frames_bytes == 0) return true;
  if (frames_bytes < kPbfsFrameHeaderBytes) return false;
  const uint32_t first_frame = LoadLittleEndian32(bytes.data() + kPbfsChunkHeaderBytes);
  return first_frame <= frames_bytes - kPbfsFrameHeaderBytes;
}

}  // namespace

// What Examine() found at one offset.
struct PbfsReader::Verdict {
  enum class Kind { kIntact, kShortHeader, kPastEnd, kBadCrc, kBadFraming };
  Kind kind = Kind::kIntact;
  uint64_t frames_bytes = 0;  // N from the header, once the header could be read.
  absl::string_view frames;   // When intact.
};

absl::string_view PbfsEndName(PbfsEnd end) {
  switch (end) {
    case PbfsEnd::kClean:
      return "clean";
    case PbfsEnd::kTornTail:
      return "torn tail";
    case PbfsEnd::kCorrupt:
      return "corrupt";
  }
  return "invalid PbfsEnd";
}

absl::StatusOr<std::unique_ptr<PbfsReader>> PbfsReader::OpenFile(const std::string& path,
                                                                 PbfsReadMode mode) {
  absl::StatusOr<std::unique_ptr<ByteSource>> source = ByteSource::OpenFile(path);
  if (!source.ok()) return source.status();
  return std::unique_ptr<PbfsReader>(new PbfsReader(*std::move(source), mode));
}

std::unique_ptr<PbfsReader> PbfsReader::FromBytes(absl::string_view bytes, PbfsReadMode mode) {
  return std::unique_ptr<PbfsReader>(new PbfsReader(std::make_unique<ByteSource>(bytes), mode));
}

PbfsReader::PbfsReader(std::unique_ptr<ByteSource> source, PbfsReadMode mode)
    : source_(std::move(source)), mode_(mode) {
  report_.file_size_bytes = source_->size();
}

PbfsReader::~PbfsReader() = default;

bool PbfsReader::Next(absl::string_view* message) {
  while (frames_.empty()) {
    if (done_) return false;
    if (absl::Status status = ReadNextChunk(); !status.ok()) {
      status_ = std::move(status);
      done_ = true;
      return false;
    }
  }
  // Examine() checked that the frames tile the chunk, so these lengths are in bounds.
  const uint32_t length = LoadLittleEndian32(frames_.data());
  *message = frames_.substr(kPbfsFrameHeaderBytes, length);
  frames_.remove_prefix(kPbfsFrameHeaderBytes + length);
  ++report_.messages_read;
  return true;
}

absl::Status PbfsReader::ReadNextChunk() {
  const uint64_t offset = next_chunk_offset_;
  if (offset == source_->size()) {
    done_ = true;
    return absl::OkStatus();
  }
  std::string problem;
  absl::StatusOr<Verdict> verdict = Examine(offset, &problem);
  if (!verdict.ok()) return verdict.status();
  if (verdict->kind != Verdict::Kind::kIntact) {
    return HandleDamage(offset, *verdict, std::move(problem));
  }
  const uint64_t chunk_bytes = kPbfsChunkHeaderBytes + verdict->frames_bytes;
  frames_ = verdict->frames;
  next_chunk_offset_ = offset + chunk_bytes;
  report_.good_end_offset = next_chunk_offset_;
  report_.bytes_read += chunk_bytes;
  ++report_.chunks_read;
  return absl::OkStatus();
}

absl::Status PbfsReader::HandleDamage(uint64_t offset, const Verdict& verdict,
                                      std::string problem) {
  absl::StatusOr<std::optional<uint64_t>> next_intact = FindIntactChunkAfter(offset);
  if (!next_intact.ok()) return next_intact.status();
  const uint64_t size = source_->size();
  if (!next_intact->has_value()) {
    absl::StatusOr<bool> torn = LooksTorn(offset, verdict);
    if (!torn.ok()) return torn.status();
    if (*torn) {
      NoteProblem(offset, PbfsEnd::kTornTail,
                  absl::StrCat(problem, "; nothing intact follows: torn tail of ", size - offset,
                               " bytes"));
      report_.tail_bytes = size - offset;
      done_ = true;
      return absl::OkStatus();
    }
    NoteProblem(offset, PbfsEnd::kCorrupt,
                absl::StrCat(problem, "; nothing intact follows, but this is not a torn write"));
  } else {
    NoteProblem(offset, PbfsEnd::kCorrupt,
                absl::StrCat(problem, "; next intact chunk at offset ", **next_intact));
  }
  if (mode_ == PbfsReadMode::kStrict) {
    report_.tail_bytes = size - offset;
    done_ = true;
    return absl::OkStatus();
  }
  const uint64_t resume = next_intact->value_or(size);
  report_.bytes_skipped += resume - offset;
  ++report_.regions_skipped;
  next_chunk_offset_ = resume;
  return absl::OkStatus();
}

void PbfsReader::NoteProblem(uint64_t offset, PbfsEnd end, std::string problem) {
  if (report_.problem.empty()) {
    report_.problem = std::move(problem);
    report_.problem_offset = offset;
  }
  if (end == PbfsEnd::kCorrupt || report_.end == PbfsEnd::kClean) report_.end = end;
}

// Checks the chunk at `offset`, the CRC before the frames (a damaged frame length is better
// reported as the CRC mismatch it also is). `problem`, if not null, receives a description of
// what is wrong.
absl::StatusOr<PbfsReader::Verdict> PbfsReader::Examine(uint64_t offset, std::string* problem) {
  Verdict verdict;
  const uint64_t remaining = source_->size() - offset;
  if (remaining < kPbfsChunkHeaderBytes) {
    verdict.kind = Verdict::Kind::kShortHeader;
    if (problem) {
      *problem = absl::StrCat("chunk at offset ", offset, ": only ", remaining,
                              " bytes remain, fewer than the 12 of a chunk header");
    }
    return verdict;
  }
  absl::StatusOr<absl::string_view> header = source_->Peek(offset, kPbfsChunkHeaderBytes);
  if (!header.ok()) return header.status();
  const uint32_t stored_crc = LoadLittleEndian32(header->data());
  verdict.frames_bytes = LoadLittleEndian64(header->data() + kPbfsCrcBytes);
  if (verdict.frames_bytes > remaining - kPbfsChunkHeaderBytes) {
    verdict.kind = Verdict::Kind::kPastEnd;
    if (problem) {
      *problem = absl::StrCat("chunk at offset ", offset, ": header claims ", verdict.frames_bytes,
                              " bytes of frames but only ", remaining - kPbfsChunkHeaderBytes,
                              " remain after it");
    }
    return verdict;
  }
  absl::StatusOr<uint32_t> crc =
      CrcOfRange(offset + kPbfsCrcBytes, kPbfsLengthBytes + verdict.frames_bytes);
  if (!crc.ok()) return crc.status();
  if (*crc != stored_crc) {
    verdict.kind = Verdict::Kind::kBadCrc;
    if (problem) {
      *problem = absl::StrFormat(
          "chunk at offset %d (%d bytes of frames): CRC mismatch, "
          "stored 0x%08x, computed 0x%08x",
          offset, verdict.frames_bytes, stored_crc, *crc);
    }
    return verdict;
  }
  absl::StatusOr<absl::string_view> frames =
      source_->Peek(offset + kPbfsChunkHeaderBytes, verdict.frames_bytes);
  if (!frames.ok()) return frames.status();
  if (!FramesTileChunk(*frames, offset, problem)) {
    verdict.kind = Verdict::Kind::kBadFraming;
    return verdict;
  }
  verdict.frames = *frames;
  return verdict;
}

// CRC of [offset, offset + length), read in window-sized pieces so that checking a candidate
// of any size needs no more memory than the window.
absl::StatusOr<uint32_t> PbfsReader::CrcOfRange(uint64_t offset, uint64_t length) {
  uint32_t crc = 0;
  for (uint64_t done = 0; done < length;) {
    const uint64_t piece = std::min(length - done, kPieceBytes);
    absl::StatusOr<absl::string_view> bytes = source_->Peek(offset + done, piece);
    if (!bytes.ok()) return bytes.status();
    crc = Crc32Extend(crc, *bytes);
    done += piece;
  }
  return crc;
}

absl::StatusOr<std::optional<uint64_t>> PbfsReader::FindIntactChunkAfter(uint64_t offset) {
  // From the zero tail on, every candidate header is all zeros, which claims N = 0 and then
  // fails its CRC (CRC-32 of eight zero bytes is not zero): nothing there can be intact.
  absl::StatusOr<uint64_t> zeros_from = ZeroTailStart();
  if (!zeros_from.ok()) return zeros_from.status();
  const uint64_t size = source_->size();
  if (size < kPbfsChunkHeaderBytes) return std::nullopt;
  const uint64_t limit = std::min(*zeros_from, size - kPbfsChunkHeaderBytes + 1);
  uint64_t at = offset + 1;
  while (at < limit) {
    // Filter a window's worth of candidates in memory; Examine() only the survivors.
    const uint64_t span = std::min(limit - at, kPieceBytes);
    absl::StatusOr<absl::string_view> bytes =
        source_->Peek(at, std::min(span - 1 + kScanProbeBytes, size - at));
    if (!bytes.ok()) return bytes.status();
    uint64_t i = 0;
    while (i < span && !MayBeChunk(bytes->substr(i, kScanProbeBytes), size - at - i)) ++i;
    at += i;
    if (i == span) continue;
    absl::StatusOr<Verdict> verdict = Examine(at, /*problem=*/nullptr);
    if (!verdict.ok()) return verdict.status();
    if (verdict->kind == Verdict::Kind::kIntact) return at;
    ++at;
  }
  return std::nullopt;
}

// Whether the chunk at `offset`, which is not intact and has nothing intact after it, is what
// an interrupted write leaves behind (see the file comment of pbfs_reader.h).
absl::StatusOr<bool> PbfsReader::LooksTorn(uint64_t offset, const Verdict& verdict) {
  switch (verdict.kind) {
    case Verdict::Kind::kShortHeader:
    case Verdict::Kind::kPastEnd:
      // Cut short by end of file, unless the length is absurd: a tear leaves a real header,
      // so that is another file's bytes (text, another format) or damage. Recovery deletes
      // torn files and keeps corrupt ones, so this matters.
      return verdict.frames_bytes <= kPbfsMaxPlausibleChunkBytes;
    case Verdict::Kind::kBadCrc:
      break;
    case Verdict::Kind::kIntact:
    case Verdict::Kind::kBadFraming:  // The CRC matched: these are the bytes that were written.
      return false;
  }
  absl::StatusOr<uint64_t> zeros_from = ZeroTailStart();
  if (!zeros_from.ok()) return zeros_from.status();
  if (*zeros_from <= offset) return true;
  const uint64_t first_zero_sector = (*zeros_from + kSectorBytes - 1) / kSectorBytes * kSectorBytes;
  return first_zero_sector < offset + kPbfsChunkHeaderBytes + verdict.frames_bytes;
}

// Where the run of zero bytes that ends the file begins (the file size if it ends non-zero).
// Found once, walking back from the end a window at a time.
absl::StatusOr<uint64_t> PbfsReader::ZeroTailStart() {
  if (zero_tail_start_.has_value()) return *zero_tail_start_;
  uint64_t end = source_->size();
  while (end > 0) {
    const uint64_t piece = std::min(end, kPieceBytes);
    absl::StatusOr<absl::string_view> bytes = source_->Peek(end - piece, piece);
    if (!bytes.ok()) return bytes.status();
    const size_t last_non_zero = bytes->find_last_not_of('\0');
    if (last_non_zero != absl::string_view::npos) {
      end = end - piece + last_non_zero + 1;
      break;
    }
    end -= piece;
  }
  zero_tail_start_ = end;
  return end;
}

namespace {

absl::StatusOr<PbfsContents> ReadAll(PbfsReader& reader) {
  PbfsContents contents;
  absl::string_view message;
  while (reader.Next(&message)) contents.messages.emplace_back(message);
  if (!reader.status().ok()) return reader.status();
  contents.report = reader.report();
  return contents;
}

}  // namespace

absl::StatusOr<PbfsContents> ReadPbfsFile(const std::string& path, PbfsReadMode mode) {
  absl::StatusOr<std::unique_ptr<PbfsReader>> reader = PbfsReader::OpenFile(path, mode);
  if (!reader.ok()) return reader.status();
  return ReadAll(**reader);
}

absl::StatusOr<PbfsContents> ReadPbfsBytes(absl::string_view bytes, PbfsReadMode mode) {
  return ReadAll(*PbfsReader::FromBytes(bytes, mode));
}

}  // namespace sift_stream::io
