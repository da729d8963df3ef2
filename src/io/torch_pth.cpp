// torch_pth.cpp: torch.save state-dict reader (zip and legacy formats, restricted unpickler).
//
// Layout of this file: byte helpers and limits; the object model the unpickler builds
// (Values in an arena, storages, pending tensors); the unpickler itself; the zip reader;
// the two container formats; turning the top-level dict into TensorRefs.
// Every length, offset and index read from the file is checked before use, the unpickler
// is iterative (no recursion) and every allocation is bounded by the input size.
#include "io/torch_pth.h"

#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace cnnlens {
namespace {

constexpr size_t kMaxValues = size_t(1) << 20;      // objects (and memo entries) per file
constexpr size_t kMaxPushes = size_t(1) << 22;      // stack pushes and MARKs per pickle
// Container items copied per file (stack -> tuple/list/dict, list -> OrderedDict, size/stride
// tuples -> tensors). A plain state dict moves each pushed object about once (twice for
// Python 2's OrderedDict(list)), so this is a fixed multiple of kMaxPushes; without it one
// memoised list REDUCEd into OrderedDict over and over copies the list every time.
constexpr size_t kMaxCopies = 2 * kMaxPushes;
// Key bytes hashed while looking up storage keys and tensor names; a state dict looks each
// key up about once, so the budget is the file size plus this slack (a memoised 1 MB key
// used a million times would otherwise hash for minutes).
constexpr uint64_t kLookupSlack = 16u << 20;
constexpr uint64_t kMaxString = 1u << 20;           // names are short; refuse huge strings
constexpr size_t kMaxDims = 64;                      // tensor rank limit
constexpr uint64_t kMaterializeSlack = 16u << 20;    // strided copies may exceed file size by this
constexpr size_t kMaxGlobalLine = 256;               // GLOBAL module/name line length

uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t rd32(const uint8_t* p) { return uint32_t(rd16(p)) | (uint32_t(rd16(p + 2)) << 16); }
uint64_t rd64(const uint8_t* p) { return uint64_t(rd32(p)) | (uint64_t(rd32(p + 4)) << 32); }

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }


// torch.<Name>Storage classes; dtype < 0 marks non-float storages, whose tensors are skipped.
struct StorageType { const char* name; size_t elsize; int dtype; };
const StorageType kStorageTypes[] = {
    {"FloatStorage", 4, (int)DType::F32},   {"HalfStorage", 2, (int)DType::F16},
    {"BFloat16Storage", 2, (int)DType::BF16}, {"DoubleStorage", 8, (int)DType::F64},
    {"LongStorage", 8, -1},  {"IntStorage", 4, -1},  {"ShortStorage", 2, -1},
    {"CharStorage", 1, -1},  {"ByteStorage", 1, -1}, {"BoolStorage", 1, -1},
    {"ComplexFloatStorage", 8, -1}, {"ComplexDoubleStorage", 16, -1},
};

// ---------------------------------------------------------------------------------------
// Object model

enum class Kind : uint8_t { None, Bool, Int, BigInt, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
enum Callable : int { kOrderedDict, kRebuildTensorV2, kRebuildTensor, kRebuildParameter,
                      kRebuildParameterWithState, kStorageType };

struct Value {
    Kind kind = Kind::None;
    int64_t i = 0;              // Bool/Int value; Global: Callable; Storage: view index; Tensor: tensor index
    int64_t j = 0;              // Global kStorageType: index into kStorageTypes
    double f = 0;               // Float
    std::string s;              // Str; BigInt: little-endian two's-complement bytes; Global: "module.name"
    std::vector<Value*> items;  // Tuple/List; Dict: key0, value0, key1, value1, ...
};

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: case Kind::BigInt: return "int";
        case Kind::Float: return "float";
        case Kind::Str: return "str";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "class or function";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

// "a list", "an int", "None": for messages about what the file holds.
std::string a_kind(Kind k) {
    std::string n = kind_name(k);
    if (k == Kind::None) return n;
    return (std::strchr("aeiou", n[0]) ? "an " : "a ") + n;
}

struct RootStorage {               // one serialized storage (zip entry data/<key> or legacy record)
    std::string key;
    int type = 0;                  // index into kStorageTypes
    uint64_t numel = 0;
    const uint8_t* data = nullptr; // bound after the pickle has been read
    bool bound = false;
    size_t whole_view = 0;
};
struct StorageView { size_t root; uint64_t offset, numel; };  // in elements of the root's type
struct PendingTensor { size_t view; uint64_t offset; std::vector<int64_t> size, stride; };

struct Loader {
    Loader(const uint8_t* d, size_t n) : file(d), file_size(n) {}
    const uint8_t* file;
    size_t file_size;
    std::deque<Value> arena;  // stable addresses; owns every Value (cycles are harmless)
    std::vector<RootStorage> roots;
    std::unordered_map<std::string, size_t> root_index;
    std::vector<StorageView> views;
    std::unordered_map<std::string, size_t> legacy_views;  // legacy view_metadata keys
    std::vector<PendingTensor> tensors;

    size_t copies = 0;      // container items copied (kMaxCopies)
    uint64_t looked_up = 0;  // key bytes hashed (file size + kLookupSlack)

    Value* make(Kind k) {
        if (arena.size() >= kMaxValues)
            fail("pickle creates more than %zu objects; not a plain state dict", kMaxValues);
        arena.emplace_back();
        arena.back().kind = k;
        return &arena.back();
    }
    // Charged before a container's items are copied, so a refused copy never allocates.
    void charge_copies(size_t n) {
        if (n > kMaxCopies - copies)
            fail("pickle copies more than %zu container items (a list or tuple reused many times?); "
                 "not a plain state dict", kMaxCopies);
        copies += n;
    }
    void charge_lookup(size_t bytes) {
        looked_up += bytes;
        if (looked_up > (uint64_t)file_size + kLookupSlack)
            fail("pickle looks up more key bytes than the file size allows (a long name reused many "
                 "times?); not a plain state dict");
    }
};

// ---------------------------------------------------------------------------------------
// Restricted unpickler

class Unpickler {
public:
    Unpickler(Loader& L, const uint8_t* data, size_t size, const char* where, bool allow_persid)
        : L_(L), d_(data), n_(size), where_(where), allow_persid_(allow_persid) {}

    // Runs one pickle starting at `pos`; returns its object and leaves `pos` after STOP.
    Value* run(size_t& pos);

private:
    Loader& L_;
    const uint8_t* d_;
    size_t n_;
    const char* where_;
    bool allow_persid_;
    size_t pos_ = 0, op_pos_ = 0, pushes_ = 0;
    std::vector<Value*> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint32_t, Value*> memo_;

    template <typename... A>
    [[noreturn]] void bad(const char* fmt, A... args) {
        std::string msg = strformat(fmt, args...);
        fail("corrupt or unsupported pickle (%s, byte %zu): %s", where_, op_pos_, msg.c_str());
    }
    [[noreturn]] void bad(const char* msg) { bad("%s", msg); }

    const uint8_t* take(uint64_t k) {
        if (k > n_ - pos_) bad("truncated: needs %llu more bytes, %zu left", (unsigned long long)k, n_ - pos_);
        const uint8_t* p = d_ + pos_;
        pos_ += (size_t)k;
        return p;
    }
    size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    void count_push() {
        if (++pushes_ > kMaxPushes) bad("more than %zu stack operations; not a plain state dict", kMaxPushes);
    }
    void push(Value* v) {
        count_push();
        stack_.push_back(v);
    }
    Value* top() {
        if (stack_.size() <= floor()) bad("stack underflow");
        return stack_.back();
    }
    Value* pop() {
        Value* v = top();
        stack_.pop_back();
        return v;
    }
    std::vector<Value*> pop_mark() {
        if (marks_.empty()) bad("MARK missing");
        size_t k = marks_.back();
        marks_.pop_back();
        L_.charge_copies(stack_.size() - k);
        std::vector<Value*> items(stack_.begin() + (std::ptrdiff_t)k, stack_.end());
        stack_.resize(k);
        return items;
    }
    Value* make_int(int64_t v) { Value* x = L_.make(Kind::Int); x->i = v; return x; }
    Value* make_str(uint64_t k) {
        if (k > kMaxString) bad("string of %llu bytes; too long for a state dict", (unsigned long long)k);
        const uint8_t* p = take(k);
        Value* x = L_.make(Kind::Str);
        x->s.assign((const char*)p, (size_t)k);
        return x;
    }
    Value* make_long(const uint8_t* p, size_t k);
    std::string read_line();
    Value* make_global(const std::string& module, const std::string& name);
    Value* call(Value* f, Value* args);
    Value* rebuild_tensor(Value* storage, Value* offset, Value* size, Value* stride);
    Value* persistent_load(Value* pid);
    void memo_put(uint32_t key) {
        if (memo_.size() >= kMaxValues && !memo_.count(key)) bad("memo larger than %zu entries", kMaxValues);
        memo_[key] = top();
    }
    Value* memo_get(uint32_t key) {
        auto it = memo_.find(key);
        if (it == memo_.end()) bad("memo key %u used before being defined", key);
        return it->second;
    }
};

Value* Unpickler::make_long(const uint8_t* p, size_t k) {
    if (k == 0) return make_int(0);
    bool neg = p[k - 1] & 0x80;
    bool fits = true;  // bytes beyond the 8th are pure sign extension and byte 7 agrees
    for (size_t b = 8; b < k; b++) fits = fits && p[b] == (neg ? 0xff : 0x00);
    if (k > 8 && fits) fits = bool(p[7] & 0x80) == neg;
    if (!fits) {
        Value* x = L_.make(Kind::BigInt);
        x->s.assign((const char*)p, k);
        return x;
    }
    uint64_t u = neg ? ~uint64_t(0) : 0;
    for (size_t b = 0; b < k && b < 8; b++) {
        u &= ~(uint64_t(0xff) << (8 * b));
        u |= uint64_t(p[b]) << (8 * b);
    }
    int64_t v;
    std::memcpy(&v, &u, 8);
    return make_int(v);
}

std::string Unpickler::read_line() {
    size_t start = pos_;
    while (pos_ < n_ && d_[pos_] != '\n') {
        if (pos_ - start >= kMaxGlobalLine) bad("GLOBAL name longer than %zu bytes", kMaxGlobalLine);
        pos_++;
    }
    if (pos_ >= n_) bad("truncated GLOBAL name");
    std::string s((const char*)d_ + start, pos_ - start);
    pos_++;
    return s;
}

Value* Unpickler::make_global(const std::string& module, const std::string& name) {
    int id = -1, storage = 0;
    if (module == "collections" && name == "OrderedDict") id = kOrderedDict;
    if (module == "torch._utils") {
        if (name == "_rebuild_tensor_v2") id = kRebuildTensorV2;
        if (name == "_rebuild_tensor") id = kRebuildTensor;
        if (name == "_rebuild_parameter") id = kRebuildParameter;
        if (name == "_rebuild_parameter_with_state") id = kRebuildParameterWithState;
    }
    if (module == "torch" || module == "torch.cuda")  // old torch named GPU storages torch.cuda.*
        for (size_t t = 0; t < sizeof(kStorageTypes) / sizeof(kStorageTypes[0]); t++)
            if (name == kStorageTypes[t].name) { id = kStorageType; storage = (int)t; }
    if (id < 0) {
        std::string full = printable(module + "." + name);
        bool looks_like_model = module == "__main__" || module.rfind("torch", 0) == 0 ||
                                module.rfind("timm", 0) == 0 || module.rfind("__torch__", 0) == 0;
        fail("refusing to load: the pickle references '%s'; only plain state dicts of tensors are "
             "supported%s", full.c_str(),
             looks_like_model ? " (was a whole model saved? save model.state_dict() instead)" : "");
    }
    Value* g = L_.make(Kind::Global);
    g->i = id;
    g->j = storage;
    g->s = module + "." + name;
    return g;
}

Value* Unpickler::rebuild_tensor(Value* storage, Value* offset, Value* size, Value* stride) {
    if (storage->kind != Kind::Storage) bad("tensor rebuilt from %s, not a storage", a_kind(storage->kind).c_str());
    if (offset->kind != Kind::Int || offset->i < 0) bad("bad tensor storage offset");
    if (size->kind != Kind::Tuple || stride->kind != Kind::Tuple) bad("tensor size/stride is not a tuple");
    if (size->items.size() != stride->items.size()) bad("tensor size and stride differ in length");
    if (size->items.size() > kMaxDims) bad("tensor has more than %zu dimensions", kMaxDims);
    L_.charge_copies(2 * size->items.size());
    PendingTensor t;
    t.view = (size_t)storage->i;
    t.offset = (uint64_t)offset->i;
    for (size_t k = 0; k < size->items.size(); k++) {
        Value* a = size->items[k];
        Value* b = stride->items[k];
        if (a->kind != Kind::Int || a->i < 0) bad("bad tensor size");
        if (b->kind != Kind::Int || b->i < 0) bad("bad tensor stride");
        t.size.push_back(a->i);
        t.stride.push_back(b->i);
    }
    L_.tensors.push_back(std::move(t));
    Value* v = L_.make(Kind::Tensor);
    v->i = (int64_t)L_.tensors.size() - 1;
    return v;
}

Value* Unpickler::call(Value* f, Value* args) {
    if (f->kind != Kind::Global) bad("REDUCE on %s", a_kind(f->kind).c_str());
    if (args->kind != Kind::Tuple) bad("REDUCE arguments are %s, not a tuple", a_kind(args->kind).c_str());
    const std::vector<Value*>& a = args->items;
    switch (f->i) {
        case kOrderedDict: {
            Value* d = L_.make(Kind::Dict);
            if (a.empty()) return d;
            // Python 2 pickles OrderedDict as OrderedDict([[key, value], ...]).
            if (a.size() != 1 || (a[0]->kind != Kind::List && a[0]->kind != Kind::Tuple))
                bad("unexpected OrderedDict arguments");
            L_.charge_copies(2 * a[0]->items.size());
            for (Value* kv : a[0]->items) {
                if ((kv->kind != Kind::List && kv->kind != Kind::Tuple) || kv->items.size() != 2)
                    bad("OrderedDict item is not a pair");
                d->items.push_back(kv->items[0]);
                d->items.push_back(kv->items[1]);
            }
            return d;
        }
        case kRebuildTensorV2:  // (storage, offset, size, stride, requires_grad, hooks[, metadata])
            if (a.size() != 6 && a.size() != 7) bad("_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", a.size());
            return rebuild_tensor(a[0], a[1], a[2], a[3]);
        case kRebuildTensor:    // (storage, offset, size, stride): torch < 0.4
            if (a.size() != 4) bad("_rebuild_tensor takes 4 arguments, got %zu", a.size());
            return rebuild_tensor(a[0], a[1], a[2], a[3]);
        case kRebuildParameter:           // (data, requires_grad, hooks)
        case kRebuildParameterWithState:  // (data, requires_grad, hooks, state)
            if (a.size() != (f->i == kRebuildParameter ? 3u : 4u)) bad("bad _rebuild_parameter arguments");
            if (a[0]->kind != Kind::Tensor) bad("parameter data is not a tensor");
            return a[0];
        default:
            bad("calling '%s' is not supported", printable(f->s).c_str());
    }
}

// ('storage', storage_type, key, location, numel[, view_metadata]); the 6-field form with
// view_metadata = (view_key, offset, numel) or None is the legacy format's.
Value* Unpickler::persistent_load(Value* pid) {
    if (!allow_persid_) bad("persistent id outside the main pickle");
    if (pid->kind != Kind::Tuple || pid->items.empty() || pid->items[0]->kind != Kind::Str)
        bad("persistent id is not a ('storage', ...) tuple");
    const std::vector<Value*>& a = pid->items;
    if (a[0]->s == "module")
        fail("refusing to load: the file contains a pickled nn.Module; save model.state_dict() instead");
    if (a[0]->s != "storage") bad("unknown persistent id type '%s'", printable(a[0]->s).c_str());
    if (a.size() != 5 && a.size() != 6) bad("storage persistent id has %zu fields", a.size());
    if (a[1]->kind != Kind::Global || a[1]->i != kStorageType) bad("storage type is not a torch storage class");
    if (a[2]->kind != Kind::Str) bad("storage key is not a string");
    if (a[3]->kind != Kind::Str) bad("storage location is not a string");
    if (a[4]->kind != Kind::Int || a[4]->i < 0) bad("bad storage element count");
    L_.charge_lookup(a[2]->s.size());
    const int type = (int)a[1]->j;
    const uint64_t numel = (uint64_t)a[4]->i;
    if (numel > L_.file_size / kStorageTypes[type].elsize)
        bad("storage '%s' declares %llu elements, more than the file holds", printable(a[2]->s).c_str(),
            (unsigned long long)numel);

    size_t root;
    auto it = L_.root_index.find(a[2]->s);
    if (it == L_.root_index.end()) {
        root = L_.roots.size();
        RootStorage r;
        r.key = a[2]->s;
        r.type = type;
        r.numel = numel;
        r.whole_view = L_.views.size();
        L_.views.push_back({root, 0, numel});
        L_.roots.push_back(std::move(r));
        L_.root_index.emplace(a[2]->s, root);
    } else {
        root = it->second;
        if (L_.roots[root].type != type || L_.roots[root].numel != numel)
            bad("storage '%s' declared twice with different type or size", printable(a[2]->s).c_str());
    }

    size_t view = L_.roots[root].whole_view;
    if (a.size() == 6 && a[5]->kind != Kind::None) {
        Value* vm = a[5];
        if (vm->kind != Kind::Tuple || vm->items.size() != 3 || vm->items[0]->kind != Kind::Str ||
            vm->items[1]->kind != Kind::Int || vm->items[2]->kind != Kind::Int)
            bad("bad storage view metadata");
        L_.charge_lookup(vm->items[0]->s.size());
        int64_t off = vm->items[1]->i, len = vm->items[2]->i;
        if (off < 0 || len < 0 || (uint64_t)off > numel || (uint64_t)len > numel - (uint64_t)off)
            bad("storage view [%lld, +%lld) outside its storage of %llu elements", (long long)off,
                (long long)len, (unsigned long long)numel);
        auto vit = L_.legacy_views.find(vm->items[0]->s);
        if (vit != L_.legacy_views.end()) {
            view = vit->second;
        } else {
            view = L_.views.size();
            L_.views.push_back({root, (uint64_t)off, (uint64_t)len});
            L_.legacy_views.emplace(vm->items[0]->s, view);
        }
    }
    Value* v = L_.make(Kind::Storage);
    v->i = (int64_t)view;
    return v;
}

Value* Unpickler::run(size_t& pos) {
    pos_ = pos;
    for (;;) {
        op_pos_ = pos_;
        const uint8_t op = *take(1);
        switch (op) {
            case 0x80: {  // PROTO
                uint8_t proto = *take(1);
                if (proto > 5) bad("unsupported pickle protocol %u", proto);
                break;
            }
            case 0x95: take(8); break;  // FRAME: framing is only a read-ahead hint
            case '.': {                  // STOP
                Value* v = pop();
                pos = pos_;
                return v;
            }
            case '(': count_push(); marks_.push_back(stack_.size()); break;  // MARK
            case '0':                                           // POP
                if (stack_.size() > floor()) stack_.pop_back(); else pop_mark();
                break;
            case '1': pop_mark(); break;              // POP_MARK
            case '2': push(top()); break;  // DUP
            case 'N': push(L_.make(Kind::None)); break;
            case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
                Value* v = L_.make(Kind::Bool);
                v->i = op == 0x88;
                push(v);
                break;
            }
            case 'J': push(make_int((int32_t)rd32(take(4)))); break;  // BININT
            case 'K': push(make_int(*take(1))); break;      // BININT1
            case 'M': push(make_int(rd16(take(2)))); break; // BININT2
            case 0x8a: { uint8_t k = *take(1); push(make_long(take(k), k)); break; }  // LONG1
            case 0x8b: {  // LONG4
                uint32_t k = rd32(take(4));
                if (k > 4096) bad("integer of %u bytes", k);
                push(make_long(take(k), k));
                break;
            }
            case 'G': {  // BINFLOAT, big-endian
                const uint8_t* p = take(8);
                uint64_t u = 0;
                for (int b = 0; b < 8; b++) u = (u << 8) | p[b];
                Value* v = L_.make(Kind::Float);
                std::memcpy(&v->f, &u, 8);
                push(v);
                break;
            }
            // Strings and bytes (Python 2 str arrives as BINSTRING) all become Str.
            case 0x8c: case 'U': case 'C': { uint8_t k = *take(1); push(make_str(k)); break; }
            case 'X': case 'B': { uint32_t k = rd32(take(4)); push(make_str(k)); break; }
            case 'T': {
                const int32_t k = (int32_t)rd32(take(4));
                if (k < 0) bad("negative string length");
                push(make_str((uint64_t)k));
                break;
            }
            case 0x8d: case 0x8e: { uint64_t k = rd64(take(8)); push(make_str(k)); break; }
            case ')': push(L_.make(Kind::Tuple)); break;  // EMPTY_TUPLE
            case 't': {                                               // TUPLE
                Value* v = L_.make(Kind::Tuple);
                v->items = pop_mark();
                push(v);
                break;
            }
            case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
                Value* v = L_.make(Kind::Tuple);
                v->items.resize(size_t(op - 0x84));
                for (size_t k = v->items.size(); k-- > 0;) v->items[k] = pop();
                push(v);
                break;
            }
            case ']': push(L_.make(Kind::List)); break;  // EMPTY_LIST
            case 'l': {                                              // LIST
                Value* v = L_.make(Kind::List);
                v->items = pop_mark();
                push(v);
                break;
            }
            case 'a': {  // APPEND
                Value* x = pop();
                Value* list = top();
                if (list->kind != Kind::List) bad("APPEND to %s", a_kind(list->kind).c_str());
                list->items.push_back(x);
                break;
            }
            case 'e': {  // APPENDS
                std::vector<Value*> xs = pop_mark();
                Value* list = top();
                if (list->kind != Kind::List) bad("APPENDS to %s", a_kind(list->kind).c_str());
                L_.charge_copies(xs.size());
                list->items.insert(list->items.end(), xs.begin(), xs.end());
                break;
            }
            case '}': push(L_.make(Kind::Dict)); break;  // EMPTY_DICT
            case 'd': {                                              // DICT
                Value* v = L_.make(Kind::Dict);
                v->items = pop_mark();
                if (v->items.size() % 2) bad("DICT with an odd number of items");
                push(v);
                break;
            }
            case 's': {  // SETITEM
                Value* val = pop();
                Value* key = pop();
                Value* dict = top();
                if (dict->kind != Kind::Dict) bad("SETITEM on %s", a_kind(dict->kind).c_str());
                dict->items.push_back(key);
                dict->items.push_back(val);
                break;
            }
            case 'u': {  // SETITEMS
                std::vector<Value*> kv = pop_mark();
                Value* dict = top();
                if (dict->kind != Kind::Dict) bad("SETITEMS on %s", a_kind(dict->kind).c_str());
                if (kv.size() % 2) bad("SETITEMS with an odd number of items");
                L_.charge_copies(kv.size());
                dict->items.insert(dict->items.end(), kv.begin(), kv.end());
                break;
            }
            case 'c': {  // GLOBAL
                std::string module = read_line();
                std::string name = read_line();
                push(make_global(module, name));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Value* name = pop();
                Value* module = pop();
                if (module->kind != Kind::Str || name->kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
                push(make_global(module->s, name->s));
                break;
            }
            case 'R': {  // REDUCE
                Value* args = pop();
                Value* f = top();
                stack_.back() = call(f, args);
                break;
            }
            case 'b': {  // BUILD: the state of a dict (OrderedDict._metadata) or tensor is ignored
                pop();
                Value* obj = top();
                if (obj->kind != Kind::Dict && obj->kind != Kind::Tensor) bad("BUILD on %s", a_kind(obj->kind).c_str());
                break;
            }
            case 'Q': {  // BINPERSID
                Value* pid = pop();
                push(persistent_load(pid));
                break;
            }
            case 'q': memo_put(*take(1)); break;      // BINPUT
            case 'r': memo_put(rd32(take(4))); break; // LONG_BINPUT
            case 0x94:                                // MEMOIZE
                if (memo_.size() >= UINT32_MAX) bad("memo full");
                memo_put((uint32_t)memo_.size());
                break;
            case 'h': push(memo_get(*take(1))); break;      // BINGET
            case 'j': push(memo_get(rd32(take(4)))); break; // LONG_BINGET
            default:
                if (op >= 32 && op < 127) bad("unsupported pickle opcode '%c' (0x%02x)", op, op);
                bad("unsupported pickle opcode 0x%02x", op);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Zip archive (stored entries only, zip64 aware)

struct ZipEntry {
    std::string name;
    uint64_t data_offset = 0, comp_size = 0, size = 0;
    uint16_t method = 0, flags = 0;
};

struct ZipArchive {
    std::vector<ZipEntry> entries;  // central-directory order
    std::unordered_map<std::string, size_t> by_name;
    const ZipEntry* find(const std::string& name) const {
        auto it = by_name.find(name);
        return it == by_name.end() ? nullptr : &entries[it->second];
    }
};

ZipArchive read_zip(const uint8_t* d, size_t n) {
    // End of central directory: 22 bytes plus a comment of up to 65535 bytes at the very end.
    if (n < 22) fail("truncated zip: no end of central directory record");
    size_t eocd = SIZE_MAX;
    for (size_t p = n - 22 + 1; p-- > 0 && n - p <= 22 + 65535;) {
        if (rd32(d + p) == 0x06054b50 && p + 22 + rd16(d + p + 20) <= n) { eocd = p; break; }
    }
    if (eocd == SIZE_MAX) fail("truncated or corrupt zip: no end of central directory record");
    if (rd16(d + eocd + 4) != 0 || rd16(d + eocd + 6) != 0) fail("multi-disk zip archives are not supported");
    uint64_t count = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);

    // Zip64: a locator right before the EOCD points at the zip64 end record.
    if (eocd >= 20 && rd32(d + eocd - 20) == 0x07064b50) {
        uint64_t z = rd64(d + eocd - 20 + 8);
        if (z > n || n - z < 56 || rd32(d + z) != 0x06064b50) fail("corrupt zip64 end of central directory record");
        count = rd64(d + z + 32);
        cd_size = rd64(d + z + 40);
        cd_off = rd64(d + z + 48);
    } else if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        fail("corrupt zip: zip64 end of central directory record missing");
    }
    if (cd_off > n || cd_size > n - cd_off) fail("corrupt zip: central directory outside the file");
    if (count > cd_size / 46) fail("corrupt zip: %llu entries do not fit the central directory", (unsigned long long)count);

    ZipArchive z;
    const uint64_t cd_end = cd_off + cd_size;
    uint64_t p = cd_off;
    for (uint64_t e = 0; e < count; e++) {
        if (cd_end - p < 46 || rd32(d + p) != 0x02014b50) fail("corrupt zip: bad central directory entry %llu", (unsigned long long)e);
        const uint8_t* h = d + p;
        ZipEntry en;
        en.flags = rd16(h + 8);
        en.method = rd16(h + 10);
        en.comp_size = rd32(h + 20);
        en.size = rd32(h + 24);
        const uint64_t name_len = rd16(h + 28), extra_len = rd16(h + 30), comment_len = rd16(h + 32);
        uint64_t local = rd32(h + 42);
        if (cd_end - p - 46 < name_len + extra_len + comment_len) fail("corrupt zip: central directory entry overruns");
        en.name.assign((const char*)h + 46, (size_t)name_len);
        // Zip64 extended information: 8-byte values for each field saturated in the header.
        const uint8_t* x = h + 46 + name_len;
        for (uint64_t q = 0; q + 4 <= extra_len;) {
            const uint16_t id = rd16(x + q), len = rd16(x + q + 2);
            if (q + 4 + len > extra_len) fail("corrupt zip: bad extra field in '%s'", printable(en.name).c_str());
            if (id == 0x0001) {
                const uint8_t* f = x + q + 4;
                uint64_t left = len;
                for (uint64_t* field : {&en.size, &en.comp_size, &local}) {
                    if (*field != 0xffffffffu) continue;
                    if (left < 8) fail("corrupt zip: short zip64 field in '%s'", printable(en.name).c_str());
                    *field = rd64(f);
                    f += 8;
                    left -= 8;
                }
            }
            q += 4 + len;
        }
        // Local header: its own name/extra lengths decide where the data starts.
        if (local > n || n - local < 30 || rd32(d + local) != 0x04034b50)
            fail("corrupt zip: bad local header for '%s'", printable(en.name).c_str());
        const uint64_t data = local + 30 + rd16(d + local + 26) + rd16(d + local + 28);
        if (data > n || en.comp_size > n - data) fail("truncated zip: entry '%s' extends past the end of the file", printable(en.name).c_str());
        en.data_offset = data;
        z.by_name.emplace(en.name, z.entries.size());
        z.entries.push_back(std::move(en));
        p += 46 + name_len + extra_len + comment_len;
    }
    return z;
}

// The bytes of a stored (uncompressed, unencrypted) entry.
const uint8_t* stored_entry(const uint8_t* d, const ZipEntry& e) {
    if (e.flags & 1) fail("zip entry '%s' is encrypted", printable(e.name).c_str());
    if (e.method != 0)
        fail("zip entry '%s' is compressed (method %u); torch.save writes stored entries, so the "
             "archive was repacked: re-save it with torch.save", printable(e.name).c_str(), e.method);
    if (e.comp_size != e.size) fail("corrupt zip: stored entry '%s' has two sizes", printable(e.name).c_str());
    return d + e.data_offset;
}

// ---------------------------------------------------------------------------------------
// From the unpickled object to TensorRefs

void copy_strided(uint8_t* dst, const uint8_t* base, size_t elsize, const PendingTensor& t, uint64_t numel) {
    const size_t nd = t.size.size();
    if (nd == 0) { std::memcpy(dst, base, elsize); return; }
    const uint64_t inner = (uint64_t)t.size[nd - 1], inner_stride = (uint64_t)t.stride[nd - 1] * elsize;
    std::vector<int64_t> idx(nd, 0);
    for (uint64_t done = 0; done < numel; done += inner) {
        uint64_t off = 0;
        for (size_t k = 0; k + 1 < nd; k++) off += (uint64_t)idx[k] * (uint64_t)t.stride[k];
        const uint8_t* src = base + off * elsize;
        for (uint64_t k = 0; k < inner; k++, dst += elsize) std::memcpy(dst, src + k * inner_stride, elsize);
        for (size_t k = nd - 1; k-- > 0;) {
            if (++idx[k] < t.size[k]) break;
            idx[k] = 0;
        }
    }
}

struct Builder {
    Builder(Loader& l, TensorFile& o) : L(l), out(o) {}
    Loader& L;
    TensorFile& out;
    uint64_t materialized = 0;
    std::string skipped;

    // Validates one tensor against its storage and appends it (or records it as skipped).
    void add(const std::string& name, const PendingTensor& t) {
        const StorageView& v = L.views[t.view];
        const RootStorage& r = L.roots[v.root];
        const StorageType& st = kStorageTypes[r.type];
        const std::string shown = printable(name);  // for messages
        const char* nm = shown.c_str();
        uint64_t numel = 1;
        for (int64_t s : t.size)  // every partial product fits int64, as TensorRef::numel() needs
            if (mul_overflows(numel, (uint64_t)s, &numel) || numel > (uint64_t)INT64_MAX)
                fail("tensor '%s': element count overflows", nm);
        const uint8_t* base = nullptr;
        if (numel > 0) {
            uint64_t last = t.offset;  // index of the tensor's last element within the view
            for (size_t k = 0; k < t.size.size(); k++) {
                uint64_t span;
                if (mul_overflows((uint64_t)(t.size[k] - 1), (uint64_t)t.stride[k], &span) || add_overflows(last, span, &last))
                    fail("tensor '%s': strides overflow", nm);
            }
            if (last >= v.numel)
                fail("tensor '%s' %s reaches element %llu of a storage of %llu elements", nm,
                     shape_of(t).c_str(), (unsigned long long)last, (unsigned long long)v.numel);
            if (!r.bound) fail("tensor '%s': storage '%s' has no data in the file", nm, printable(r.key).c_str());
            base = r.data + (size_t)((v.offset + t.offset) * st.elsize);
        }
        if (st.dtype < 0) {
            skipped += (skipped.empty() ? "" : ",") + name;
            return;
        }
        TensorRef ref;
        ref.name = name;
        ref.shape = t.size;
        ref.dtype = (DType)st.dtype;
        ref.nbytes = (size_t)(numel * st.elsize);  // numel <= storage numel here unless strides repeat
        bool contiguous = true;
        uint64_t expect = 1;
        for (size_t k = t.size.size(); k-- > 0;) {
            if (t.size[k] != 1 && (uint64_t)t.stride[k] != expect) contiguous = false;
            expect *= (uint64_t)t.size[k];
        }
        if (numel == 0) {
            ref.data = L.file;  // never null, even with nothing to point at
        } else if (contiguous) {
            ref.data = base;
        } else {
            uint64_t bytes;
            if (mul_overflows(numel, st.elsize, &bytes) || add_overflows(materialized, bytes, &materialized) ||
                materialized > (uint64_t)L.file_size + kMaterializeSlack || bytes > (uint64_t)SIZE_MAX)
                fail("tensor '%s': strided view of %llu elements would need more memory than the file "
                     "size allows", nm, (unsigned long long)numel);
            auto buf = std::make_unique<std::vector<uint8_t>>((size_t)bytes);
            copy_strided(buf->data(), base, st.elsize, t, numel);
            ref.data = buf->data();
            ref.nbytes = (size_t)bytes;
            out.owned.push_back(std::move(buf));
        }
        out.tensors.push_back(std::move(ref));
    }

    static std::string shape_of(const PendingTensor& t) {
        std::string s = "[";
        for (size_t k = 0; k < t.size.size(); k++) s += (k ? "," : "") + std::to_string(t.size[k]);
        return s + "]";
    }
};

size_t count_tensors(const Value* dict) {
    size_t c = 0;
    for (size_t k = 0; k + 1 < dict->items.size(); k += 2) c += dict->items[k + 1]->kind == Kind::Tensor;
    return c;
}

const Value* dict_get(const Value* dict, const char* key) {
    const Value* found = nullptr;  // the last assignment wins, as in Python
    for (size_t k = 0; k + 1 < dict->items.size(); k += 2)
        if (dict->items[k]->kind == Kind::Str && dict->items[k]->s == key) found = dict->items[k + 1];
    return found;
}

// Finds the state dict (the top level, or inside a {'state_dict': ...}-style wrapper) and
// turns its tensor entries into TensorRefs in file order.
void build_tensors(Loader& L, const Value* top, TensorFile& out) {
    if (top->kind != Kind::Dict) fail("not a state dict: the top-level object is %s", a_kind(top->kind).c_str());
    const Value* dict = top;
    std::string wrapper;
    for (int depth = 0; count_tensors(dict) == 0; depth++) {
        const Value* inner = nullptr;
        const char* used = nullptr;
        for (const char* key : {"state_dict", "model_state_dict", "model"}) {
            const Value* v = dict_get(dict, key);
            if (v && v->kind == Kind::Dict) { inner = v; used = key; break; }
        }
        if (!inner || depth >= 3) {
            std::string keys;
            for (size_t k = 0, shown = 0; k + 1 < dict->items.size() && shown < 8; k += 2, shown++)
                keys += (keys.empty() ? "" : ", ") + (dict->items[k]->kind == Kind::Str
                                                          ? "'" + printable(dict->items[k]->s, 40) + "'"
                                                          : std::string(kind_name(dict->items[k]->kind)));
            fail("not a state dict: the top-level dict holds no tensors (keys: %s)", keys.empty() ? "none" : keys.c_str());
        }
        wrapper += (wrapper.empty() ? "" : ".") + std::string(used);
        dict = inner;
    }
    if (!wrapper.empty()) out.metadata["wrapper"] = wrapper;

    // Python dict semantics: a repeated key keeps its first position and takes the last value.
    std::vector<std::string> order;
    std::unordered_map<std::string, const Value*> value_of;
    for (size_t k = 0; k + 1 < dict->items.size(); k += 2) {
        const Value* key = dict->items[k];
        const Value* val = dict->items[k + 1];
        if (key->kind != Kind::Str) continue;
        L.charge_lookup(key->s.size());
        auto it = value_of.find(key->s);
        if (it == value_of.end()) { order.push_back(key->s); value_of.emplace(key->s, val); }
        else it->second = val;
    }
    Builder b(L, out);
    for (const std::string& name : order) {
        const Value* v = value_of[name];
        if (v->kind == Kind::Tensor) b.add(name, L.tensors[(size_t)v->i]);  // other entries are ignored
    }
    if (!b.skipped.empty()) out.metadata["skipped"] = b.skipped;
}

// ---------------------------------------------------------------------------------------
// The two container formats

TensorFile load_zip(const uint8_t* d, size_t n) {
    ZipArchive z = read_zip(d, n);
    std::string prefix;
    for (const ZipEntry& e : z.entries) {
        size_t slash = e.name.find('/');
        if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            prefix = e.name.substr(0, slash + 1);
            break;
        }
    }
    if (prefix.empty()) fail("zip archive has no <folder>/data.pkl: not a torch.save file");
    for (const ZipEntry& e : z.entries)
        if (e.name == prefix + "constants.pkl" || e.name.compare(0, prefix.size() + 5, prefix + "code/") == 0)
            fail("this is a TorchScript archive (torch.jit.save), not a state dict; save "
                 "model.state_dict() with torch.save instead");
    TensorFile out;
    out.format = "pth-zip";
    if (const ZipEntry* bo = z.find(prefix + "byteorder")) {
        if (bo->size > 16) fail("corrupt zip: byteorder record of %llu bytes", (unsigned long long)bo->size);
        std::string s((const char*)stored_entry(d, *bo), (size_t)bo->size);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
        if (s != "little") fail("unsupported byte order '%s' (only little-endian files are supported)", printable(s).c_str());
    }

    Loader L(d, n);
    const ZipEntry& pkl = *z.find(prefix + "data.pkl");
    std::string where = printable(pkl.name);
    size_t pos = 0;
    Value* top = Unpickler(L, stored_entry(d, pkl), (size_t)pkl.size, where.c_str(), true).run(pos);
    for (RootStorage& r : L.roots) {
        const ZipEntry* e = z.find(prefix + "data/" + r.key);
        if (!e) fail("storage 'data/%s' is missing from the archive", printable(r.key).c_str());
        const size_t elsize = kStorageTypes[r.type].elsize;
        if (e->size / elsize < r.numel)
            fail("storage '%s' holds %llu bytes, fewer than its %llu elements need", printable(e->name).c_str(),
                 (unsigned long long)e->size, (unsigned long long)r.numel);
        r.data = stored_entry(d, *e);
        r.bound = true;
    }
    out.metadata["zip_prefix"] = prefix.substr(0, prefix.size() - 1);
    build_tensors(L, top, out);
    return out;
}

TensorFile load_legacy(const uint8_t* d, size_t n) {
    static const uint8_t kMagic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    Loader L(d, n);
    size_t pos = 0;
    Value* magic = Unpickler(L, d, n, "magic number", false).run(pos);
    if (magic->kind != Kind::BigInt || magic->s != std::string((const char*)kMagic, 10))
        fail("not a torch.save file: a pickle, but not starting with torch's magic number");
    Value* proto = Unpickler(L, d, n, "protocol version", false).run(pos);
    if (proto->kind != Kind::Int || proto->i != 1001)
        fail("unsupported legacy torch.save protocol version (expected 1001)");
    Value* sys_info = Unpickler(L, d, n, "sys_info", false).run(pos);
    if (sys_info->kind != Kind::Dict) fail("corrupt legacy torch.save file: sys_info is %s", a_kind(sys_info->kind).c_str());
    const Value* le = dict_get(sys_info, "little_endian");
    if (le && le->kind == Kind::Bool && le->i == 0) fail("the file was saved on a big-endian machine; not supported");
    Value* top = Unpickler(L, d, n, "main pickle", true).run(pos);
    Value* keys = Unpickler(L, d, n, "storage keys", false).run(pos);
    if (keys->kind != Kind::List) fail("corrupt legacy torch.save file: storage key list is %s", a_kind(keys->kind).c_str());

    // Raw storages, in key-list order: u64 element count, then the elements.
    for (const Value* k : keys->items) {
        if (k->kind != Kind::Str) fail("corrupt legacy torch.save file: storage key is %s", a_kind(k->kind).c_str());
        auto it = L.root_index.find(k->s);
        if (it == L.root_index.end()) fail("corrupt legacy torch.save file: unknown storage key '%s'", printable(k->s).c_str());
        RootStorage& r = L.roots[it->second];
        if (r.bound) fail("corrupt legacy torch.save file: storage '%s' listed twice", printable(k->s).c_str());
        if (n - pos < 8) fail("truncated legacy torch.save file: storage '%s' missing", printable(k->s).c_str());
        const uint64_t count = rd64(d + pos);
        pos += 8;
        if (count != r.numel)
            fail("corrupt legacy torch.save file: storage '%s' has %llu elements, the pickle says %llu",
                 printable(k->s).c_str(), (unsigned long long)count, (unsigned long long)r.numel);
        const uint64_t bytes = count * kStorageTypes[r.type].elsize;  // count <= file size / elsize
        if (bytes > n - pos) fail("truncated legacy torch.save file: storage '%s' needs %llu bytes, %zu left",
                                  printable(k->s).c_str(), (unsigned long long)bytes, n - pos);
        r.data = d + pos;
        r.bound = true;
        pos += (size_t)bytes;
    }
    TensorFile out;
    out.format = "pth-legacy";
    build_tensors(L, top, out);
    return out;
}

}  // namespace

TensorFile load_torch_pth(const uint8_t* data, size_t size) {
    if (size == 0 || !data) fail("not a PyTorch file: the file is empty");
    if (size >= 4 && (rd32(data) == 0x04034b50 || rd32(data) == 0x06054b50)) return load_zip(data, size);
    if (data[0] == 0x80) return load_legacy(data, size);
    if (size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0)
        fail("tar-based torch.save file (torch < 0.1.10) is not supported");
    std::string head;
    for (size_t i = 0; i < size && i < 4; i++) head += strformat("%s%02x", i ? " " : "", data[i]);
    fail("not a PyTorch .pth file: starts with bytes %s (expected a zip archive or a pickle)", head.c_str());
}

}  // namespace cnnlens
