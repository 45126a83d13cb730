#include "ws.h"

#include <cstring>

namespace ringway::ws {
namespace {

uint32_t Rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

void Sha1Block(uint32_t h[5], const uint8_t* b) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t{b[4 * i]} << 24) | (uint32_t{b[4 * i + 1]} << 16) |
           (uint32_t{b[4 * i + 2]} << 8) | uint32_t{b[4 * i + 3]};
  }
  for (int i = 16; i < 80; ++i) {
    w[i] = Rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  }
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f = 0, k = 0;
    if (i < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = bb ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = bb ^ c ^ d;
      k = 0xCA62C1D6;
    }
    const uint32_t t = Rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = Rol(bb, 30);
    bb = a;
    a = t;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

void Sha1(const void* data, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const auto* p = static_cast<const uint8_t*>(data);
  size_t left = len;
  while (left >= 64) {
    Sha1Block(h, p);
    p += 64;
    left -= 64;
  }
  uint8_t tail[128] = {};
  memcpy(tail, p, left);
  tail[left] = 0x80;
  const size_t total = left + 9 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(len) * 8;
  for (int i = 0; i < 8; ++i) {
    tail[total - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  }
  Sha1Block(h, tail);
  if (total == 128) {
    Sha1Block(h, tail + 64);
  }
  for (int i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<uint8_t>(h[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(h[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(h[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(h[i]);
  }
}

std::string Base64(const uint8_t* data, size_t len) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < len) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < len) {
      v |= uint32_t{data[i + 1]} << 8;
    }
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < len ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string AcceptFor(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t digest[20];
  Sha1(s.data(), s.size(), digest);
  return Base64(digest, sizeof digest);
}

int ParseHeader(const uint8_t* p, size_t n, FrameHeader* h) {
  if (n < 2) {
    return 0;
  }
  h->fin = (p[0] & 0x80) != 0;
  h->rsv = static_cast<uint8_t>((p[0] >> 4) & 7);
  h->opcode = p[0] & 0x0F;
  h->masked = (p[1] & 0x80) != 0;
  uint64_t len = p[1] & 0x7F;
  size_t off = 2;
  if (len == 126) {
    if (n < 4) {
      return 0;
    }
    len = (uint64_t{p[2]} << 8) | p[3];
    off = 4;
  } else if (len == 127) {
    if (n < 10) {
      return 0;
    }
    len = 0;
    for (int i = 0; i < 8; ++i) {
      len = (len << 8) | p[2 + i];
    }
    if ((len >> 63) != 0) {
      return -1;
    }
    off = 10;
  }
  if (h->masked) {
    if (n < off + 4) {
      return 0;
    }
    memcpy(h->mask, p + off, 4);
    off += 4;
  }
  if ((h->opcode & 0x8) != 0 && (len > 125 || !h->fin)) {
    return -1;
  }
  h->length = len;
  h->header_len = off;
  return 1;
}

size_t WriteHeader(uint8_t* out, uint8_t opcode, uint64_t length, const uint8_t* mask, bool fin) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (opcode & 0x0F));
  const uint8_t m = mask != nullptr ? 0x80 : 0;
  size_t off = 2;
  if (length < 126) {
    out[1] = static_cast<uint8_t>(m | length);
  } else if (length <= 0xFFFF) {
    out[1] = static_cast<uint8_t>(m | 126);
    out[2] = static_cast<uint8_t>(length >> 8);
    out[3] = static_cast<uint8_t>(length);
    off = 4;
  } else {
    out[1] = static_cast<uint8_t>(m | 127);
    for (int i = 0; i < 8; ++i) {
      out[2 + i] = static_cast<uint8_t>(length >> (56 - 8 * i));
    }
    off = 10;
  }
  if (mask != nullptr) {
    memcpy(out + off, mask, 4);
    off += 4;
  }
  return off;
}

void ApplyMask(uint8_t* p, size_t n, const uint8_t mask[4], size_t offset) {
  uint8_t m[4];
  for (size_t i = 0; i < 4; ++i) {
    m[i] = mask[(offset + i) & 3];
  }
  size_t i = 0;
  if (n >= 8) {
    uint64_t m8;
    uint8_t mm[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
    memcpy(&m8, mm, 8);
    for (; i + 8 <= n; i += 8) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      v ^= m8;
      memcpy(p + i, &v, 8);
    }
  }
  for (; i < n; ++i) {
    p[i] ^= m[i & 3];
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    const size_t start = pos + 2;
    const size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos && IEquals(Trim(line.substr(0, colon)), name)) {
      return Trim(line.substr(colon + 1));
    }
    pos = end;
  }
  return {};
}

}  // namespace ringway::ws
