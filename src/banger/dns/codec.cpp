#include "banger/dns/codec.hpp"

#include <string>

namespace banger::dns {
namespace {

constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kFlagAa = 0x0400;
constexpr std::uint16_t kFlagTc = 0x0200;
constexpr std::uint16_t kFlagRd = 0x0100;
constexpr std::uint16_t kFlagRa = 0x0080;
constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxNameWire = 255;

// Bounds-checked big-endian reader over a message.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool u8(std::uint8_t& out) {
    if (remaining() < 1) {
      return false;
    }
    out = data_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& out) {
    if (remaining() < 2) {
      return false;
    }
    out = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& out) {
    std::uint16_t hi = 0;
    std::uint16_t lo = 0;
    if (remaining() < 4 || !u16(hi) || !u16(lo)) {
      return false;
    }
    out = (std::uint32_t{hi} << 16) | lo;
    return true;
  }
  bool skip(std::size_t n) {
    if (remaining() < n) {
      return false;
    }
    pos_ += n;
    return true;
  }
  void seek(std::size_t pos) { pos_ = pos; }
  std::span<const std::uint8_t> data() const { return data_; }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v & 0xff));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v & 0xffff));
  }
  void labels(const std::vector<std::string>& labels) {
    for (const auto& label : labels) {
      u8(static_cast<std::uint8_t>(label.size()));
      out_.insert(out_.end(), label.begin(), label.end());
    }
    u8(0);
  }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

std::string at(std::size_t offset) { return " at offset " + std::to_string(offset); }

// Reads an uncompressed name (the question of a query). Returns "" on success, else the reason.
std::string read_plain_name(Reader& r, std::vector<std::string>& labels) {
  std::size_t wire = 0;
  while (true) {
    std::size_t start = r.pos();
    std::uint8_t len = 0;
    if (!r.u8(len)) {
      return "name truncated" + at(start);
    }
    wire += 1u + len;
    if ((len & 0xc0) == 0xc0) {
      return "compression pointer in the question" + at(start) + ": not allowed in a query";
    }
    if ((len & 0xc0) != 0) {
      return "reserved label type" + at(start);
    }
    if (len == 0) {
      return "";
    }
    if (wire + 1 > kMaxNameWire) {  // + the root label still to come
      return "name longer than 255 bytes" + at(start);
    }
    if (r.remaining() < len) {
      return "label truncated" + at(start);
    }
    auto bytes = r.data().subspan(r.pos(), len);
    labels.emplace_back(bytes.begin(), bytes.end());
    r.skip(len);
  }
}

// Reads a possibly compressed name. Returns "" on success, else the reason. On success the
// reader is after the name as it appears at its original position.
std::string read_name(Reader& r, std::vector<std::string>& labels) {
  std::size_t wire = 0;
  std::optional<std::size_t> resume;
  std::size_t jumps = 0;
  Reader cur = r;
  while (true) {
    std::size_t start = cur.pos();
    std::uint8_t len = 0;
    if (!cur.u8(len)) {
      return "name truncated" + at(start);
    }
    if ((len & 0xc0) == 0xc0) {
      std::uint8_t low = 0;
      if (!cur.u8(low)) {
        return "compression pointer truncated" + at(start);
      }
      std::size_t target = (std::size_t{len & 0x3fu} << 8) | low;
      // Pointers must go backwards, which also rules out loops; the jump cap is a backstop.
      if (target >= start || ++jumps > 64) {
        return "compression pointer" + at(start) + " does not point backwards";
      }
      if (!resume) {
        resume = cur.pos();
      }
      cur.seek(target);
      continue;
    }
    if ((len & 0xc0) != 0) {
      return "reserved label type" + at(start);
    }
    wire += 1u + len;
    if (wire > kMaxNameWire) {
      return "name longer than 255 bytes" + at(start);
    }
    if (len == 0) {
      r.seek(resume ? *resume : cur.pos());
      return "";
    }
    if (cur.remaining() < len) {
      return "label truncated" + at(start);
    }
    auto bytes = cur.data().subspan(cur.pos(), len);
    labels.emplace_back(bytes.begin(), bytes.end());
    cur.skip(len);
  }
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = lower(c);
  }
  return out;
}

void write_header(Writer& w, std::uint16_t id, std::uint16_t flags, std::uint16_t qd,
                  std::uint16_t an, std::uint16_t ar) {
  w.u16(id);
  w.u16(flags);
  w.u16(qd);
  w.u16(an);
  w.u16(0);
  w.u16(ar);
}

std::uint16_t reply_flags(const Query& q, Rcode rcode, bool authoritative) {
  std::uint16_t flags = kFlagQr;
  flags |= static_cast<std::uint16_t>((q.opcode & 0x0f) << 11);
  if (authoritative) {
    flags |= kFlagAa;
  }
  if (q.rd) {
    flags |= kFlagRd;
  }
  flags |= static_cast<std::uint16_t>(rcode);
  return flags;
}

void write_question(Writer& w, const Query& q) {
  w.labels(q.question.labels);
  w.u16(q.question.qtype);
  w.u16(q.question.qclass);
}

// Our OPT record, sent back only when the query carried one (RFC 6891 7).
void write_opt(Writer& w) {
  w.u8(0);
  w.u16(kTypeOpt);
  w.u16(kEdnsUdpSize);
  w.u32(0);
  w.u16(0);
}

}  // namespace

std::optional<Ipv4Bytes> parse_ipv4(std::string_view text) {
  Ipv4Bytes out{};
  std::size_t part = 0;
  std::size_t i = 0;
  while (part < 4) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 4) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) {
      return std::nullopt;
    }
    out[part++] = static_cast<std::uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') {
        return std::nullopt;
      }
      ++i;
    }
  }
  if (i != text.size()) {
    return std::nullopt;
  }
  return out;
}

std::string format_ipv4(const Ipv4Bytes& ip) {
  return std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
         std::to_string(ip[3]);
}

std::string Question::name() const {
  std::string out;
  for (const auto& label : labels) {
    if (!out.empty()) {
      out += '.';
    }
    out += label;
  }
  return out;
}

namespace {

// The six 16-bit header fields (RFC 1035 4.1.1); the caller checked the message holds them.
struct Header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qd = 0;
  std::uint16_t an = 0;
  std::uint16_t ns = 0;
  std::uint16_t ar = 0;
};

Header read_header(Reader& r) {
  Header h;
  for (std::uint16_t* field : {&h.id, &h.flags, &h.qd, &h.an, &h.ns, &h.ar}) {
    r.u16(*field);
  }
  return h;
}

}  // namespace

ParsedQuery parse_query(std::span<const std::uint8_t> message) {
  ParsedQuery result;
  if (message.size() < kHeaderSize) {
    result.reason = "message of " + std::to_string(message.size()) +
                    " bytes is shorter than the 12-byte header";
    return result;
  }
  Reader r(message);
  auto [id, flags, qd, an, ns, ar] = read_header(r);
  result.query.id = id;
  result.query.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0f);
  result.query.rd = (flags & kFlagRd) != 0;
  if ((flags & kFlagQr) != 0) {
    result.reason = "message is a response (qr set)";
    return result;
  }
  auto formerr = [&](std::string reason) {
    result.outcome = ParseOutcome::format_error;
    result.reason = std::move(reason);
    return result;
  };
  if (result.query.opcode != 0) {
    result.outcome = ParseOutcome::not_implemented;
    result.reason =
        "opcode " + std::to_string(result.query.opcode) + " is not implemented (only 0, query)";
    return result;
  }
  if (qd != 1) {
    return formerr("question count " + std::to_string(qd) + ": want 1");
  }
  if (an != 0 || ns != 0) {
    return formerr("query carries " + std::to_string(an) + " answer and " + std::to_string(ns) +
                   " authority records: want none");
  }
  if (ar > 1) {
    return formerr("query carries " + std::to_string(ar) +
                   " additional records: at most 1 (edns opt) is allowed");
  }
  auto& q = result.query.question;
  if (auto reason = read_plain_name(r, q.labels); !reason.empty()) {
    return formerr(std::move(reason));
  }
  if (!r.u16(q.qtype) || !r.u16(q.qclass)) {
    return formerr("question truncated" + at(r.pos()));
  }
  if (ar == 1) {
    std::size_t start = r.pos();
    std::uint8_t owner = 0;
    std::uint16_t type = 0;
    std::uint16_t udp_size = 0;
    std::uint32_t ttl = 0;
    std::uint16_t rdlen = 0;
    if (!r.u8(owner) || !r.u16(type) || !r.u16(udp_size) || !r.u32(ttl) || !r.u16(rdlen)) {
      return formerr("additional record truncated" + at(start));
    }
    if (owner != 0 || type != kTypeOpt) {
      return formerr("additional record" + at(start) + " is not an edns opt record for the root");
    }
    std::size_t rdata_end = r.pos() + rdlen;
    if (r.remaining() < rdlen) {
      return formerr("opt record data truncated" + at(start));
    }
    // Options are TLVs; each must fit inside the record data.
    while (r.pos() < rdata_end) {
      std::size_t opt_start = r.pos();
      std::uint16_t code = 0;
      std::uint16_t len = 0;
      if (rdata_end - r.pos() < 4 || !r.u16(code) || !r.u16(len) || rdata_end - r.pos() < len) {
        return formerr("edns option" + at(opt_start) + " overruns the opt record");
      }
      r.skip(len);
    }
    result.query.has_edns = true;
    result.query.edns_udp_size = udp_size;
  }
  if (r.remaining() != 0) {
    return formerr(std::to_string(r.remaining()) + " trailing bytes" + at(r.pos()));
  }
  result.outcome = ParseOutcome::ok;
  return result;
}

std::vector<std::uint8_t> build_a_reply(const Query& query, const Ipv4Bytes& address) {
  Writer w;
  write_header(w, query.id, reply_flags(query, Rcode::noerror, true), 1, 1, query.has_edns ? 1 : 0);
  write_question(w, query);
  w.u16(static_cast<std::uint16_t>(0xc000 | kHeaderSize));  // pointer to the question name
  w.u16(kTypeA);
  w.u16(kClassIn);
  w.u32(kAnswerTtlSeconds);
  w.u16(4);
  for (std::uint8_t b : address) {
    w.u8(b);
  }
  if (query.has_edns) {
    write_opt(w);
  }
  return w.take();
}

std::vector<std::uint8_t> build_empty_reply(const Query& query, Rcode rcode, bool authoritative) {
  Writer w;
  write_header(w, query.id, reply_flags(query, rcode, authoritative), 1, 0, query.has_edns ? 1 : 0);
  write_question(w, query);
  if (query.has_edns) {
    write_opt(w);
  }
  return w.take();
}

std::vector<std::uint8_t> build_header_only_reply(const Query& query, Rcode rcode) {
  Writer w;
  write_header(w, query.id, reply_flags(query, rcode, false), 0, 0, 0);
  return w.take();
}

std::optional<std::string> vm_name_of(const Question& question) {
  const auto& labels = question.labels;
  if (labels.empty() || lower(labels.back()) != "vm") {
    return std::nullopt;
  }
  std::string name;
  for (std::size_t i = 0; i + 1 < labels.size(); ++i) {
    if (i > 0) {
      name += '.';
    }
    name += lower(labels[i]);
  }
  return name;
}

std::vector<std::uint8_t> build_vm_reply(const Query& query, std::string_view vm_name,
                                         const std::optional<Ipv4Bytes>& address) {
  std::uint16_t qclass = query.question.qclass;
  if (qclass != kClassIn && qclass != kClassAny) {
    return build_empty_reply(query, Rcode::refused, false);
  }
  if (vm_name.empty()) {
    return build_empty_reply(query, Rcode::noerror, true);
  }
  if (!address) {
    return build_empty_reply(query, Rcode::nxdomain, true);
  }
  std::uint16_t qtype = query.question.qtype;
  if (qtype == kTypeA || qtype == kTypeAny) {
    return build_a_reply(query, *address);
  }
  return build_empty_reply(query, Rcode::noerror, true);
}

std::optional<std::vector<std::uint8_t>> build_query(std::uint16_t id, std::string_view name,
                                                     std::uint16_t qtype, bool rd, bool edns) {
  Query q;
  q.id = id;
  q.rd = rd;
  q.has_edns = edns;
  q.question.qtype = qtype;
  q.question.qclass = kClassIn;
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  std::size_t wire = 1;
  while (!name.empty()) {
    auto dot = name.find('.');
    auto label = name.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel) {
      return std::nullopt;
    }
    wire += 1 + label.size();
    q.question.labels.emplace_back(label);
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    if (dot != std::string_view::npos && name.empty()) {
      return std::nullopt;
    }
  }
  if (wire > kMaxNameWire) {
    return std::nullopt;
  }
  Writer w;
  write_header(w, id, rd ? kFlagRd : 0, 1, 0, edns ? 1 : 0);
  write_question(w, q);
  if (edns) {
    write_opt(w);
  }
  return w.take();
}

ParsedReply parse_reply(std::span<const std::uint8_t> message) {
  ParsedReply result;
  auto failed = [&](std::string reason) {
    result.reason = std::move(reason);
    return result;
  };
  if (message.size() < kHeaderSize) {
    return failed("message of " + std::to_string(message.size()) +
                  " bytes is shorter than the 12-byte header");
  }
  Reader r(message);
  auto [id, flags, qd, an, ns, ar] = read_header(r);
  auto& reply = result.reply;
  reply.id = id;
  if ((flags & kFlagQr) == 0) {
    return failed("message is a query (qr clear)");
  }
  reply.aa = (flags & kFlagAa) != 0;
  reply.tc = (flags & kFlagTc) != 0;
  reply.rd = (flags & kFlagRd) != 0;
  reply.ra = (flags & kFlagRa) != 0;
  reply.rcode_bits = static_cast<std::uint8_t>(flags & 0x0f);
  reply.rcode = static_cast<Rcode>(reply.rcode_bits);
  reply.answer_count = an;
  for (std::uint16_t i = 0; i < qd; ++i) {
    Question q;
    if (auto reason = read_name(r, q.labels); !reason.empty()) {
      return failed(std::move(reason));
    }
    if (!r.u16(q.qtype) || !r.u16(q.qclass)) {
      return failed("question truncated" + at(r.pos()));
    }
    reply.questions.push_back(std::move(q));
  }
  for (std::uint16_t i = 0; i < an; ++i) {
    std::vector<std::string> owner;
    if (auto reason = read_name(r, owner); !reason.empty()) {
      return failed(std::move(reason));
    }
    std::size_t start = r.pos();
    std::uint16_t type = 0;
    std::uint16_t cls = 0;
    std::uint32_t ttl = 0;
    std::uint16_t rdlen = 0;
    if (!r.u16(type) || !r.u16(cls) || !r.u32(ttl) || !r.u16(rdlen) || r.remaining() < rdlen) {
      return failed("answer record truncated" + at(start));
    }
    if (type == kTypeA && cls == kClassIn) {
      if (rdlen != 4) {
        return failed("a record" + at(start) + " has " + std::to_string(rdlen) +
                      " data bytes: want 4");
      }
      auto bytes = message.subspan(r.pos(), 4);
      reply.a_records.push_back({bytes[0], bytes[1], bytes[2], bytes[3]});
    }
    r.skip(rdlen);
  }
  result.ok = true;
  return result;
}

std::optional<std::uint16_t> message_id(std::span<const std::uint8_t> message) {
  if (message.size() < 2) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>((message[0] << 8) | message[1]);
}

void set_message_id(std::span<std::uint8_t> message, std::uint16_t id) {
  if (message.size() < 2) {
    return;
  }
  message[0] = static_cast<std::uint8_t>(id >> 8);
  message[1] = static_cast<std::uint8_t>(id & 0xff);
}

}  // namespace banger::dns
