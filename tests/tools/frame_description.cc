#include "frame_description.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <flatbuffers/reflection.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "outrigger_generated.h"

namespace outrigger::testing {
namespace {

std::string g_bfbs;
const reflection::Schema* g_schema = nullptr;

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

bool hasAttribute(const reflection::Enum& e, const char* name) {
  if (!e.attributes()) return false;
  for (const auto* kv : *e.attributes()) {
    if (kv->key()->str() == name) return true;
  }
  return false;
}

std::string enumName(const reflection::Enum& e, int64_t v) {
  for (const auto* val : *e.values()) {
    if (val->value() == v) return val->name()->str();
  }
  return "UNKNOWN:" + std::to_string(v);
}

void writeTable(const flatbuffers::Table& t, const reflection::Object& obj, Writer* w);

void writeScalar(const flatbuffers::Table& t, const reflection::Field& f, Writer* w) {
  reflection::BaseType bt = f.type()->base_type();
  int32_t idx = f.type()->index();
  if (idx >= 0 && bt != reflection::Obj && bt != reflection::Union) {
    const reflection::Enum& e = *g_schema->enums()->Get(static_cast<flatbuffers::uoffset_t>(idx));
    int64_t v = flatbuffers::GetAnyFieldI(t, f);
    if (hasAttribute(e, "bit_flags")) w->Int64(v);
    else w->String(enumName(e, v).c_str());
    return;
  }
  switch (bt) {
    case reflection::Bool: w->Bool(flatbuffers::GetAnyFieldI(t, f) != 0); break;
    case reflection::Float:
    case reflection::Double: w->Double(flatbuffers::GetAnyFieldF(t, f)); break;
    case reflection::ULong: w->Uint64(static_cast<uint64_t>(flatbuffers::GetAnyFieldI(t, f))); break;
    default: w->Int64(flatbuffers::GetAnyFieldI(t, f)); break;
  }
}

void writeField(const flatbuffers::Table& t, const reflection::Object& obj, const reflection::Field& f, Writer* w) {
  reflection::BaseType bt = f.type()->base_type();
  bool present = t.CheckField(f.offset());
  if (bt == reflection::UType) return;  // written with its union
  if (bt == reflection::Union) present = true;  // "<name>_type" is always written
  if (bt <= reflection::Double) {       // scalars
    if (f.optional() && !present) return;
    w->Key(f.name()->c_str());
    return writeScalar(t, f, w);
  }
  if (!present) return;
  if (bt == reflection::String) {
    w->Key(f.name()->c_str());
    const auto* s = flatbuffers::GetFieldS(t, f);
    w->String(s->c_str(), s->size());
  } else if (bt == reflection::Obj) {
    w->Key(f.name()->c_str());
    const reflection::Object& sub = *g_schema->objects()->Get(static_cast<flatbuffers::uoffset_t>(f.type()->index()));
    writeTable(*flatbuffers::GetFieldT(t, f), sub, w);
  } else if (bt == reflection::Vector) {
    w->Key(f.name()->c_str());
    w->StartArray();
    reflection::BaseType et = f.type()->element();
    if (et == reflection::String) {
      const auto* v = flatbuffers::GetFieldV<flatbuffers::Offset<flatbuffers::String>>(t, f);
      for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) w->String(v->Get(i)->c_str(), v->Get(i)->size());
    } else if (et == reflection::Obj) {
      const reflection::Object& sub = *g_schema->objects()->Get(static_cast<flatbuffers::uoffset_t>(f.type()->index()));
      const auto* v = flatbuffers::GetFieldV<flatbuffers::Offset<flatbuffers::Table>>(t, f);
      for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) writeTable(*v->Get(i), sub, w);
    } else {
      const auto* v = flatbuffers::GetFieldAnyV(t, f);
      for (flatbuffers::uoffset_t i = 0; i < v->size(); ++i) w->Int64(flatbuffers::GetAnyVectorElemI(v, et, i));
    }
    w->EndArray();
  } else if (bt == reflection::Union) {
    // The union's type field is "<name>_type".
    const reflection::Field* tf = obj.fields()->LookupByKey((f.name()->str() + "_type").c_str());
    int64_t type = flatbuffers::GetAnyFieldI(t, *tf);
    const reflection::Enum& e = *g_schema->enums()->Get(static_cast<flatbuffers::uoffset_t>(f.type()->index()));
    const reflection::EnumVal* ev = e.values()->LookupByKey(type);
    w->Key((f.name()->str() + "_type").c_str());
    w->String(ev ? ev->name()->c_str() : ("UNKNOWN:" + std::to_string(type)).c_str());
    if (!ev || type == 0) return;
    const reflection::Object& sub = *g_schema->objects()->Get(static_cast<flatbuffers::uoffset_t>(ev->union_type()->index()));
    w->Key(f.name()->c_str());
    writeTable(*flatbuffers::GetFieldT(t, f), sub, w);
  }
}

void writeTable(const flatbuffers::Table& t, const reflection::Object& obj, Writer* w) {
  w->StartObject();
  for (const auto* f : *obj.fields()) {
    if (!f->deprecated()) writeField(t, obj, *f, w);
  }
  w->EndObject();
}

}  // namespace

std::string defaultBinarySchemaPath() {
  const char* env = std::getenv("OUTRIGGER_BFBS");
  return env && *env ? env : OUTRIGGER_BFBS_PATH;
}

std::string loadBinarySchema(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open " + path;
  std::stringstream ss;
  ss << in.rdbuf();
  g_bfbs = ss.str();
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(g_bfbs.data()), g_bfbs.size());
  if (!reflection::VerifySchemaBuffer(v)) return path + " is not a binary schema";
  g_schema = reflection::GetSchema(g_bfbs.data());
  return "";
}

bool describeFrame(const uint8_t* data, size_t size, std::string* out) {
  flatbuffers::Verifier v(data, size, 64, 1000000);
  if (!outrigger::wire::VerifySizePrefixedFrameBuffer(v)) {
    *out = "frame does not verify";
    return false;
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const auto* root = flatbuffers::GetSizePrefixedRoot<flatbuffers::Table>(data);
  writeTable(*root, *g_schema->root_table(), &w);
  *out = buf.GetString();
  return true;
}

}  // namespace outrigger::testing
