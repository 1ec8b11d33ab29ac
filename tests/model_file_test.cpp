// The model file (docs/formats.md): save and load give bit-identical outputs and metadata; a
// checkpoint restored into fresh objects continues training bit-identically (Adam and SGD); every
// way a file can be wrong gives a message naming the file; a failed save leaves the old file.
#include "support/checks.hpp"

#include "axonseg/nn/checkpoint.hpp"

#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iterator>

using namespace axonseg;
using namespace axonseg::test;
using nn::Mode;
using nn::UNet;
using nn::UNetTopology;

namespace {

// Anisotropic, two poolings, deep supervision: a few thousand parameters.
UNetTopology small_topology() {
    return {.input_channels = 1, .classes = 3, .pool_strides = {{1, 2, 2}, {2, 2, 2}},
            .conv_kernels = {{1, 3, 3}, {3, 3, 3}, {3, 3, 3}}, .base_features = 4, .max_features = 8};
}

// A folder of this process's files, removed at exit.
std::filesystem::path scratch(const std::string& name) {
    struct Folder {
        std::filesystem::path path =
            std::filesystem::temp_directory_path() / ("axonseg_model_file_" + std::to_string(::getpid()));
        Folder() { std::filesystem::create_directories(path); }
        ~Folder() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
    };
    static const Folder folder;
    return folder.path / name;
}

std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
}

// Recomputes the CRC-32 at bytes 32..36 as docs/formats.md defines it: over the file without them.
void reseal(std::string& bytes) {
    uLong crc = ::crc32(0L, Z_NULL, 0);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), 32);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()) + 36, uInt(bytes.size() - 36));
    for (int i = 0; i < 4; ++i) bytes[std::size_t(32 + i)] = char((crc >> (8 * i)) & 0xff);
}

// doctest's matcher takes its own string type.
doctest::Contains has(const std::string& text) { return doctest::Contains(text.c_str()); }

bool bitwise_equal(TensorView<const float> a, TensorView<const float> b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), std::size_t(a.numel()) * sizeof(float)) == 0;
}

// The parameters as nnU-Net's trainer optimises them: all but the lowest deep-supervision head,
// whose loss weight is 0.
std::vector<std::string> optimised_names(UNet<float>& net) {
    std::vector<std::string> names;
    for (const nn::Parameter& p : net.parameters())
        if (p.name != "seg_outputs.0.weight") names.push_back(p.name);
    return names;
}
std::vector<optim::ParamRef> refs_of(UNet<float>& net) {
    std::vector<optim::ParamRef> refs;
    for (const std::string& name : optimised_names(net))
        refs.push_back({net.parameter(name).value.view(), net.parameter(name).grad.view()});
    return refs;
}

// One training step on a batch drawn from rng, with the loss 0.5 * sum(output^2) over every output
// (its gradient is the outputs themselves).
template <class Opt>
void train_step(UNet<float>& net, Opt& opt, std::mt19937_64& rng) {
    const Tensor<float> x = random_tensor<float>({2, 1, 4, 8, 8}, rng(), Layout::channels_last);
    std::vector<Tensor<float>> out = net.forward(x);
    std::vector<TensorView<const float>> douts(out.begin(), out.end());
    net.backward(douts);
    opt.step(refs_of(net));
}

// Two steps, checkpoint, two more steps on the original and on fresh objects restored from the
// checkpoint: parameters, optimiser state, scheduler and RNG end identical.
template <class Opt, class Params>
void check_continued_training(const Params& params, const std::string& file) {
    const std::filesystem::path path = scratch(file);
    UNet<float> net(small_topology(), 1);
    net.set_mode(Mode::training);
    Opt opt(refs_of(net), params);
    optim::ReduceLROnPlateau plateau(params.lr, optim::PlateauParams{.patience = 1});
    nn::TrainingState state{
        .epoch = 2, .rng = std::mt19937_64(9), .optimised = optimised_names(net), .user = {{"best_dice", 0.5}}};
    for (int i = 0; i < 2; ++i) train_step(net, opt, state.rng);
    plateau.step(1.0);
    plateau.step(2.0);
    plateau.step(3.0);  // a reduction: lr, best and counters all differ from a fresh scheduler's
    opt.set_lr(plateau.lr());
    nn::save_checkpoint(path, net, opt, plateau, state, {.source = "trained"});

    UNet<float> fresh(small_topology(), 2);
    fresh.set_mode(Mode::training);
    Opt fresh_opt(refs_of(fresh), params);
    optim::ReduceLROnPlateau fresh_plateau(params.lr, optim::PlateauParams{.patience = 1});
    nn::LoadedCheckpoint restored = nn::load_checkpoint(path, fresh, fresh_opt, fresh_plateau);
    CHECK(restored.state.epoch == 2);
    CHECK(restored.state.optimised == state.optimised);
    CHECK(restored.state.rng == state.rng);
    CHECK(restored.state.user["best_dice"] == 0.5);
    CHECK(fresh_opt.step_count() == 2);
    CHECK(fresh_opt.lr() == opt.lr());
    CHECK(fresh_plateau.lr() == plateau.lr());
    CHECK(fresh_plateau.best() == plateau.best());
    CHECK(fresh_plateau.bad_epochs() == plateau.bad_epochs());

    for (int i = 0; i < 2; ++i) {
        train_step(net, opt, state.rng);
        train_step(fresh, fresh_opt, restored.state.rng);
    }
    for (std::size_t i = 0; i < net.parameters().size(); ++i) {
        INFO(net.parameters()[i].name);
        CHECK(bitwise_equal(net.parameters()[i].value, fresh.parameters()[i].value));
    }
    const auto a = nn::optimiser_state(opt), b = nn::optimiser_state(fresh_opt);
    for (std::size_t s = 0; s < a.size(); ++s)
        for (std::size_t i = 0; i < a[s].second->size(); ++i) {
            INFO(a[s].first, " ", i);
            CHECK(bitwise_equal((*a[s].second)[i], (*b[s].second)[i]));
        }
}

}  // namespace

TEST_CASE("A saved model loads into a network with bit-identical outputs and the same metadata") {
    const std::filesystem::path path = scratch("model.axonseg");
    UNet<float> net(small_topology(), 3);
    nn::ModelMetadata meta{.patch_size = Index3{4, 8, 8},
                           .normalisation = {{"scheme", "zscore"}, {"mean", 101.5}, {"std", 12.25}},
                           .class_names = {"background", "axon", "artefact"},
                           .source = "imported from PyTorch file model_best.model",
                           .user = {{"brain", "190312"}, {"fold", 0}}};
    nn::save_model(path, net, meta);

    const nn::LoadedModel loaded = nn::load_model(path);
    CHECK(loaded.topology.pool_strides == small_topology().pool_strides);
    CHECK(loaded.topology.conv_kernels == small_topology().conv_kernels);
    CHECK(loaded.topology.classes == 3);
    CHECK(loaded.metadata.patch_size == Index3{4, 8, 8});
    CHECK(loaded.metadata.normalisation == meta.normalisation);
    CHECK(loaded.metadata.class_names == meta.class_names);
    CHECK(loaded.metadata.source == meta.source);
    CHECK(loaded.metadata.user == meta.user);
    CHECK(loaded.metadata.axonseg_version == AXONSEG_VERSION);
    CHECK(loaded.metadata.created.size() == 20);  // 2026-11-24T18:30:00Z

    UNet<float> back = loaded.build<float>();
    const Tensor<float> x = random_tensor<float>({1, 1, 4, 8, 8}, 4, Layout::channels_last);
    const Tensor<float> expected = std::move(net.forward(x)[0]);
    CHECK(bitwise_equal(back.forward(x)[0], expected));
    UNet<bfloat16> half = loaded.build<bfloat16>();  // the fp32 masters, computing in bf16
    check_close(half.forward(to<bfloat16>(x.view(), Layout::channels_last))[0].view(), expected.view(), 5e-2,
                "bf16 network from the file");

    // The layout promised in docs/formats.md: magic, version, header length, 64-byte aligned data.
    const std::string bytes = read_bytes(path);
    CHECK(bytes.substr(0, 8) == std::string("AXONSEG\0", 8));
    CHECK(bytes[8] == 1);
    CHECK(bytes[12] == 40);
    CHECK(bytes.size() % 64 == 0);
}

TEST_CASE("A checkpoint restored into fresh objects continues training bit-identically (Adam, AMSGrad)") {
    check_continued_training<optim::Adam>(optim::AdamParams{.lr = 1e-3, .weight_decay = 3e-5, .amsgrad = true},
                                          "adam.ckpt");
}

TEST_CASE("A checkpoint restored into fresh objects continues training bit-identically (SGD, Nesterov)") {
    check_continued_training<optim::Sgd>(optim::SgdParams{.lr = 1e-2, .momentum = 0.99}, "sgd.ckpt");
}

TEST_CASE("Damaged, foreign, newer and mismatched files are rejected with a message naming the file") {
    const std::filesystem::path path = scratch("good.axonseg"), bad = scratch("bad.axonseg");
    UNet<float> net(small_topology(), 5);
    nn::save_model(path, net, {});
    const std::string good = read_bytes(path);
    const std::string name = bad.string();

    CHECK_THROWS_WITH_AS(nn::load_model(scratch("absent.axonseg")),
                         doctest::Contains("absent.axonseg: cannot open the model file (No such file or directory)"),
                         Error);

    write_bytes(bad, good.substr(0, good.size() - 100));
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": truncated: the header promises " +
                                                                std::to_string(good.size()) + " bytes, the file has " +
                                                                std::to_string(good.size() - 100)),
                         Error);
    write_bytes(bad, good.substr(0, 20));
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": truncated: 20 bytes, less than the 40-byte header"),
                         Error);

    std::string damaged = good;
    damaged[damaged.size() - 70] ^= 0x10;  // one bit of the last tensor
    write_bytes(bad, damaged);
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": checksum mismatch"), Error);
    CHECK_THROWS_WITH_AS(nn::load_model(bad), doctest::Contains("the file is damaged"), Error);

    write_bytes(bad, std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": not an axonseg model file (a PNG image)"),
                         Error);
    write_bytes(bad, std::string("PK\x03\x04\x14\0\0\0archive/data.pkl", 24));
    CHECK_THROWS_WITH_AS(nn::load_model(bad),
                         has(name + ": not an axonseg model file (a zip archive, such as a PyTorch"),
                         Error);
    write_bytes(bad, "hello world");
    CHECK_THROWS_WITH_AS(nn::load_model(bad),
                         doctest::Contains("not an axonseg model file (its first bytes are 68 65 6c 6c 6f 20 77 6f)"),
                         Error);

    std::string newer = good;
    newer[8] = 2;
    write_bytes(bad, newer);
    CHECK_THROWS_WITH_AS(nn::load_model(bad),
                         has(name + ": written by a newer axonseg (format 2, this build reads up to 1)"),
                         Error);

    std::string not_json = good;
    not_json[40] = 'x';  // the JSON's opening brace, checksum made right again
    reseal(not_json);
    write_bytes(bad, not_json);
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": the metadata is not valid JSON"), Error);

    std::string no_topology = good;
    const std::size_t at = no_topology.find("\"topology\"");
    REQUIRE(at != std::string::npos);
    no_topology[at + 1] = 'T';  // the key is now "Topology"
    reseal(no_topology);
    write_bytes(bad, no_topology);
    CHECK_THROWS_WITH_AS(nn::load_model(bad), has(name + ": invalid metadata ("), Error);
    CHECK_THROWS_WITH_AS(nn::load_model(bad), doctest::Contains("'topology' not found"), Error);

    // Networks of another shape: wider features; a third conv per stage (parameters missing from
    // the file); saved from that one and loaded into ours (parameters the network lacks).
    UNetTopology wider = small_topology();
    wider.base_features = 6;
    UNet<float> wide(wider);
    CHECK_THROWS_WITH_AS(nn::load_model(path).load_into(wide),
                         has(path.string() + ": parameter 'conv_blocks_localization.1.0.blocks.0.conv.weight' is "
                                             "(4,8,3,3,3) in the file, (6,12,3,3,3) in the network being loaded"),
                         Error);
    UNetTopology deeper = small_topology();
    deeper.convs_per_stage = 3;
    UNet<float> deep(deeper);
    CHECK_THROWS_WITH_AS(nn::load_model(path).load_into(deep),
                         has(path.string() + ": the network's parameter 'conv_blocks_localization.0.0.blocks.1.conv."
                                             "weight' is missing from the file"),
                         Error);
    const std::filesystem::path deep_path = scratch("deep.axonseg");
    nn::save_model(deep_path, deep, {});
    const std::vector<float> before(net.parameters()[0].value.data(), net.parameters()[0].value.data() + 4);
    CHECK_THROWS_WITH_AS(nn::load_model(deep_path).load_into(net),
                         has(deep_path.string() + ": the file has 64 parameters, the network 44; extra in the file: "
                                                  "'conv_blocks_localization.0.0.blocks.1.conv.weight', "),
                         Error);
    CHECK(std::equal(before.begin(), before.end(), net.parameters()[0].value.data()));  // left as it was

    CHECK_THROWS_WITH_AS(nn::save_model(bad, net, {.class_names = {"background"}}),
                         doctest::Contains("save_model: 1 class names for a network of 3 classes"), Error);
    optim::Adam adam(net.param_refs(), {});
    optim::PolyLR poly;
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, net, adam, poly),
                         has(path.string() + ": a model file, not a training checkpoint"), Error);
}

TEST_CASE("A checkpoint refuses an optimiser or scheduler of another kind or other hyper-parameters") {
    const std::filesystem::path path = scratch("kinds.ckpt");
    UNet<float> net(small_topology(), 6);
    optim::Adam adam(net.param_refs(), {.beta2 = 0.99});
    optim::PolyLR poly{.initial_lr = 1e-2, .max_epochs = 10};
    nn::save_checkpoint(path, net, adam, poly, {});
    optim::Sgd sgd(net.param_refs(), {});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, net, sgd, poly),
                         doctest::Contains(": the checkpoint holds \"adam\" state, the optimiser given is \"sgd\""),
                         Error);
    optim::Adam other(net.param_refs(), {});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, net, other, poly),
                         doctest::Contains(": the checkpoint's adam has beta2 0.99, the optimiser given has 0.999"),
                         Error);
    optim::ReduceLROnPlateau plateau(1e-2, {});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, net, adam, plateau),
                         doctest::Contains("holds \"poly\" scheduler state, the scheduler given is "
                                           "\"reduce_lr_on_plateau\""),
                         Error);
    optim::PolyLR restored;
    nn::load_checkpoint(path, net, adam, restored);
    CHECK(restored.max_epochs == 10);

    const std::filesystem::path sgd_path = scratch("kinds_sgd.ckpt");
    optim::Sgd nesterov(net.param_refs(), {.momentum = 0.99});
    optim::ReduceLROnPlateau patient(1e-2, {.patience = 30});
    nn::save_checkpoint(sgd_path, net, nesterov, patient, {});
    optim::Sgd plain(net.param_refs(), {.momentum = 0.9});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(sgd_path, net, plain, patient),
                         doctest::Contains(": the checkpoint's sgd has momentum 0.99, the optimiser given has 0.9"),
                         Error);
    optim::ReduceLROnPlateau impatient(1e-2, {.patience = 5});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(sgd_path, net, nesterov, impatient),
                         doctest::Contains(": the checkpoint's scheduler has patience 30, the scheduler given has 5"),
                         Error);
}

TEST_CASE("A save that fails part-way leaves the existing file untouched and no temporary behind") {
    const std::filesystem::path dir = scratch("failing");
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "model.axonseg";
    UNet<float> small(small_topology(), 7);
    nn::save_model(path, small, {.source = "the old file"});
    const std::string before = read_bytes(path);

    // A file-size limit makes the write fail after 4 KiB (EFBIG instead of SIGXFSZ).
    UNetTopology big_top = small_topology();
    big_top.base_features = 16;
    big_top.max_features = 32;
    UNet<float> big(big_top, 8);
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    rlimit limited = old;
    limited.rlim_cur = 4096;
    auto* previous = std::signal(SIGXFSZ, SIG_IGN);
    ::setrlimit(RLIMIT_FSIZE, &limited);
    CHECK_THROWS_WITH_AS(nn::save_model(path, big, {}),
                         has(path.string() + ": cannot write the model file (File too large)"), Error);
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, previous);

    CHECK(read_bytes(path) == before);
    CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
    CHECK(nn::load_model(path).metadata.source == "the old file");
}
