// json.h: the project's one JSON writer and its small reader.
//
// The writer builds the documents that cross to the web page (the model description, results,
// the UI's requests) and the safetensors header we write; the reader takes small documents
// (weight-file metadata such as class_names, those same documents on the UI side). Weight-file
// headers are parsed by their own readers, which check every size against the file.
//
//   JsonWriter j;
//   j.begin_object().field("name", "vgg16").key("layers").begin_array();
//   for (...) j.begin_object().field("h", 14).end_object();
//   j.end_array().end_object();   j.str() -> {"name":"vgg16","layers":[{"h":14}]}
//
//   Json doc = Json::parse(text);       // throws cnnlens::Error naming the position
//   doc["layers"][0]["h"].number()      // a missing key or index gives a Null value
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cnnlens {

// s as a JSON string literal: quotes, backslashes and control characters escaped; bytes >= 0x80
// (UTF-8) pass through.
std::string json_quote(const std::string& s);

class JsonWriter {
public:
    JsonWriter& begin_object() { open('{'); return *this; }
    JsonWriter& end_object() { close('}'); return *this; }
    JsonWriter& begin_array() { open('['); return *this; }
    JsonWriter& end_array() { close(']'); return *this; }
    JsonWriter& key(const std::string& k);
    JsonWriter& value(const std::string& s);
    JsonWriter& value(const char* s) { return value(std::string(s)); }
    JsonWriter& value(double v);          // non-finite numbers are written as null
    JsonWriter& value(int v) { return value((int64_t)v); }
    JsonWriter& value(int64_t v);
    JsonWriter& value(bool v);
    JsonWriter& null();
    JsonWriter& raw(const std::string& json);   // an already serialised value
    template <class T>
    JsonWriter& field(const std::string& k, const T& v) { return key(k).value(v); }
    const std::string& str() const { return out_; }

private:
    std::string out_;
    std::vector<bool> first_;   // per open container: no element written yet
    bool after_key_ = false;
    void element();             // a separator before the next value, if needed
    void open(char c);
    void close(char c);
};

class Json {
public:
    enum Type { Null, Bool, Number, String, Array, Object };
    // Limits: 64 levels of nesting and max_values values (a parsed value takes ~100 bytes, so a
    // hostile document cannot multiply its size into memory); numbers are doubles.
    static Json parse(const std::string& text, size_t max_values = size_t(1) << 18);

    Type type() const { return type_; }
    bool is_null() const { return type_ == Null; }
    bool boolean(bool def = false) const { return type_ == Bool ? b_ : def; }
    double number(double def = 0) const { return type_ == Number ? num_ : def; }
    int integer(int def = 0) const;
    const std::string& string() const { return str_; }   // "" unless a string
    size_t size() const { return items_.size(); }        // array elements or object fields
    const Json& operator[](size_t i) const;               // array element (Null when out of range)
    const Json& operator[](int i) const { return i < 0 ? (*this)[size_t(-1)] : (*this)[(size_t)i]; }
    const Json& operator[](const std::string& key) const;  // object field (Null when absent)
    const Json& operator[](const char* key) const { return (*this)[std::string(key)]; }
    bool has(const std::string& key) const;
    const std::vector<Json>& items() const { return items_; }   // array elements, object values
    const std::vector<std::string>& keys() const { return keys_; }
    // An array of strings (anything else throws, naming what).
    std::vector<std::string> strings(const char* what) const;

private:
    Type type_ = Null;
    bool b_ = false;
    double num_ = 0;
    std::string str_;
    std::vector<Json> items_;
    std::vector<std::string> keys_;   // objects: keys_[i] names items_[i]
    friend struct JsonParser;
};

}  // namespace cnnlens
