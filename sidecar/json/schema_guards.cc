#include "schema_guards.h"

#include <rapidjson/memorystream.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <string>

namespace outrigger::json {

const rapidjson::Value* refOf(const rapidjson::Value& v) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember("$ref");
  return it != v.MemberEnd() && it->value.IsString() ? &it->value : nullptr;
}

namespace {

std::string unescapeToken(std::string_view raw) {
  std::string token;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
      token += raw[++i] == '0' ? '~' : '/';
    } else if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
      token += static_cast<char>(std::stoi(std::string(raw.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      token += raw[i];
    }
  }
  return token;
}

}  // namespace

std::string refProblem(std::string_view ref) {
  if (std::count(ref.begin(), ref.end(), '/') > std::ptrdiff_t{kMaxRefSlashes}) {
    return "a $ref has more than " + std::to_string(kMaxRefSlashes) + " '/'";
  }
  if (ref.size() > kMaxRefBytes) return "a $ref is longer than " + std::to_string(kMaxRefBytes) + " bytes";
  if (ref.empty() || ref.front() != '#') return "a $ref must point into the schema itself (start with '#')";
  if (ref.find('\0') != std::string_view::npos) return "a $ref holds a NUL";
  for (size_t i = ref.find('%'); i != std::string_view::npos; i = ref.find('%', i + 1)) {
    if (i + 2 >= ref.size() || !std::isxdigit(static_cast<unsigned char>(ref[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(ref[i + 2]))) {
      return "a $ref has a '%' not followed by two hex digits";
    }
    if (ref[i + 1] == '0' && ref[i + 2] == '0') return "a $ref has \"%00\"";
  }
  return {};
}

const rapidjson::Value* resolveRef(const rapidjson::Value& doc, std::string_view ref) {
  size_t hash = ref.find('#');
  std::string_view pointer = hash == std::string_view::npos ? std::string_view() : ref.substr(hash + 1);
  const rapidjson::Value* node = &doc;
  while (!pointer.empty()) {
    size_t slash = pointer.find('/', 1);
    std::string_view raw = pointer.substr(1, slash == std::string_view::npos ? std::string_view::npos : slash - 1);
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
    if (raw.empty()) continue;
    std::string token = unescapeToken(raw);
    if (node->IsObject()) {
      auto it = node->FindMember(rapidjson::StringRef(token.data(), static_cast<rapidjson::SizeType>(token.size())));
      if (it == node->MemberEnd()) return nullptr;
      node = &it->value;
    } else if (node->IsArray()) {
      // As valijson reads an index (a stricter reading here would miss the cycles it follows).
      unsigned long index = 0;
      try {
        index = std::stoul(token);
      } catch (const std::exception&) {
        return nullptr;
      }
      if (index >= node->Size()) return nullptr;
      node = &(*node)[static_cast<rapidjson::SizeType>(index)];
    } else {
      return nullptr;
    }
  }
  return node;
}

std::vector<const rapidjson::Value*> inPlaceSubschemas(const rapidjson::Value& doc, const rapidjson::Value& v) {
  std::vector<const rapidjson::Value*> out;
  if (!v.IsObject()) return out;
  if (const rapidjson::Value* ref = refOf(v)) {
    if (const rapidjson::Value* target = resolveRef(doc, {ref->GetString(), ref->GetStringLength()})) {
      out.push_back(target);
    }
  }
  for (const char* key : {"allOf", "anyOf", "oneOf"}) {
    auto it = v.FindMember(key);
    if (it != v.MemberEnd() && it->value.IsArray()) {
      for (const auto& e : it->value.GetArray()) out.push_back(&e);
    }
  }
  for (const char* key : {"not", "if", "then", "else"}) {
    auto it = v.FindMember(key);
    if (it != v.MemberEnd()) out.push_back(&it->value);
  }
  auto deps = v.FindMember("dependencies");
  if (deps != v.MemberEnd() && deps->value.IsObject()) {
    for (const auto& m : deps->value.GetObject()) {
      if (m.value.IsObject() || m.value.IsBool()) out.push_back(&m.value);  // an array lists member names
    }
  }
  return out;
}

NestedSubschemas nestedSubschemas(const rapidjson::Value& v) {
  NestedSubschemas out;
  if (!v.IsObject()) return out;
  auto member = [&v](const char* key) {
    auto it = v.FindMember(key);
    return it == v.MemberEnd() ? nullptr : &it->value;
  };
  auto membersOf = [](const rapidjson::Value* object, std::vector<const rapidjson::Value*>* into) {
    if (!object || !object->IsObject()) return;
    for (const auto& m : object->GetObject()) into->push_back(&m.value);
  };
  membersOf(member("properties"), &out.member_one_of);
  if (const rapidjson::Value* extra = member("additionalProperties")) out.member_one_of.push_back(extra);
  membersOf(member("patternProperties"), &out.member_all);
  if (const rapidjson::Value* names = member("propertyNames")) out.member_all.push_back(names);
  if (const rapidjson::Value* items = member("items")) {
    if (items->IsArray()) {
      for (const auto& e : items->GetArray()) out.item_one_of.push_back(&e);  // a tuple
    } else {
      out.item_one_of.push_back(items);
    }
  }
  if (const rapidjson::Value* extra = member("additionalItems")) out.item_one_of.push_back(extra);
  if (const rapidjson::Value* contains = member("contains")) out.item_all.push_back(contains);
  return out;
}

namespace {

struct Discard {
  void Put(char) {}
};

bool validUtf8(const char* text, size_t size) {
  size_t i = 0;
  while (i < size && static_cast<unsigned char>(text[i]) < 0x80) ++i;  // ASCII fast path
  if (i == size) return true;
  rapidjson::MemoryStream in(text + i, size - i);
  Discard out;
  while (in.Tell() < size - i) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

}  // namespace

bool hasInvalidUtf8(const rapidjson::Value& v) {
  std::vector<const rapidjson::Value*> todo{&v};
  while (!todo.empty()) {
    const rapidjson::Value* at = todo.back();
    todo.pop_back();
    if (at->IsString() && !validUtf8(at->GetString(), at->GetStringLength())) return true;
    if (at->IsObject()) {
      for (const auto& m : at->GetObject()) {
        if (!validUtf8(m.name.GetString(), m.name.GetStringLength())) return true;
        todo.push_back(&m.value);
      }
    } else if (at->IsArray()) {
      for (const auto& e : at->GetArray()) todo.push_back(&e);
    }
  }
  return false;
}

}  // namespace outrigger::json
