// Training-set creation (prep/training_set.hpp, io/dataset_folder.hpp, io/atomic_folder.hpp, and
// `axonseg make-dataset`) on small synthetic cubes: the cases each option adds and their names,
// what every crop holds, byte-identical output for a seed at any thread count, both formats read
// back, contrast weakening on and off, the folder made atomically, and the errors for bad folders.
#include "support/checks.hpp"
#include "support/scratch.hpp"

#include "axonseg/io/atomic_folder.hpp"
#include "axonseg/io/nifti.hpp"
#include "axonseg/io/tiff.hpp"
#include "axonseg/prep/synth.hpp"
#include "axonseg/prep/training_set.hpp"

#include <fstream>
#include <iterator>
#include <set>

using namespace axonseg;
using namespace axonseg::prep;
namespace fs = std::filesystem;

namespace {

constexpr Index k_dim = 32;     // crop edge
constexpr Index k_cube = 36;    // axon cube edge
constexpr Index k_radius = 8;   // contrast weakening radius (25 by default: too big for such crops)

void write_axon_cube(const fs::path& train, const std::string& number, Index edge, std::uint64_t seed) {
    const SynthVolume v = synthesize({.shape = {edge, edge, edge}, .seed = seed, .density = 8.0, .artifacts = 0.0});
    fs::create_directories(train / "volumes");
    fs::create_directories(train / "Fine-label");
    io::write_tiff_stack(train / "volumes" / ("volume-" + number + ".tiff"), v.volume.view());
    io::write_tiff_stack(train / "Fine-label" / ("label-" + number + ".tiff"), v.label.view());
}

void write_artifact_cube(const fs::path& train, const std::string& number, std::uint64_t seed) {
    const SynthVolume v = synthesize({.shape = {k_cube, k_cube, k_cube}, .seed = seed, .density = 0.0, .artifacts = 3.0});
    fs::create_directories(train / "artifacts");
    io::write_tiff_stack(train / "artifacts" / ("volume-" + number + ".tiff"), v.volume.view());
}

// base: axon cubes 001, 002 (k_cube^3) and 003 (too small), artefact 200, a test volume 900;
// source: axon cube 005, artefact 300.
struct Folders {
    test::ScratchDir dir;
    fs::path base, source;
    explicit Folders(const std::string& name) : dir(name), base(dir / "base"), source(dir / "source") {
        write_axon_cube(base / "train", "001", k_cube, 1);
        write_axon_cube(base / "train", "002", k_cube, 2);
        write_axon_cube(base / "train", "003", 24, 3);
        write_artifact_cube(base / "train", "200", 4);
        fs::create_directories(base / "val" / "volumes");
        io::write_tiff_stack(base / "val" / "volumes" / "volume-900.tiff",
                             synthesize({.shape = {20, 20, 20}, .seed = 6}).volume.view());
        write_axon_cube(source / "train", "005", k_cube, 5);
        write_artifact_cube(source / "train", "300", 7);
    }
};

TrainingSetParams all_options(std::uint64_t seed = 3) {
    return {.task_name = "Axons", .samples = 2, .dim = k_dim, .match = true, .join = true, .mix_artifacts = true,
            .cutmix = true, .seed = seed, .weakening = {.radius = k_radius}};
}

// Every file under dir, by path relative to it, with its bytes.
std::map<std::string, std::string> folder_bytes(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) {
            std::ifstream in(e.path(), std::ios::binary);
            files[fs::relative(e.path(), dir).string()] =
                std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
    return files;
}

TrainingSetSummary make_into(const fs::path& dir, const Folders& f, const TrainingSetParams& p,
                             io::DatasetFormat format = io::DatasetFormat::axonseg) {
    const io::DatasetWriter writer(dir, format);
    TrainingSetSummary s = make_training_set(f.base, f.source, p, writer);
    writer.finish(s.description);
    return s;
}

}  // namespace

TEST_CASE("Each option adds its cases, with the original's names kept aligned past a skipped cube") {
    const Folders f("training_set_cases");
    const TrainingSetSummary s = make_into(f.dir / "out", f, all_options());
    std::set<std::string> names;
    Index artifacts = 0;
    for (const io::DatasetCase& c : s.description.training) {
        names.insert(c.name);
        artifacts += c.kind == "artifact";
    }
    // Axon cases 001, 002 and the joined s005, each also matched (m) and mixed (c): 9 x 2 crops.
    // Artefact cases a200, as300 and their matched copies, max(1, 2 / 1 * 2 / 2) = 2 crops each.
    CHECK(s.description.training.size() == 26);
    CHECK(artifacts == 8);
    for (const char* name : {"Axons0010", "Axons0021", "Axonss0051", "Axons001m0", "Axonss005m1", "Axons002c1",
                             "Axonsa2001", "Axonsa200m0", "Axonsas3001", "Axonsas300m1"})
        CHECK_MESSAGE(names.count(name), name);
    CHECK(names.count("Axons0030") == 0);
    REQUIRE(s.skipped.size() == 1);
    CHECK(s.skipped[0].find("volume-003.tiff: (24,24,24) is smaller than the crop edge 32") != std::string::npos);
    REQUIRE(s.description.test == std::vector<std::string>{"Axons900"});

    // Without options: only the base's axon crops.
    TrainingSetParams plain{.task_name = "Axons", .samples = 3, .dim = k_dim};
    const TrainingSetSummary p = make_into(f.dir / "plain", f, plain);
    CHECK(p.description.training.size() == 6);
}

TEST_CASE("Every crop is normalised to [0, 1], edge^3, with a 0/1 label that is empty for artefacts") {
    const Folders f("training_set_crops");
    make_into(f.dir / "out", f, all_options());
    const io::DatasetIndex index = io::read_dataset_index(f.dir / "out");
    REQUIRE(index.training.size() == 26);
    Index axon_crops_with_foreground = 0;
    for (const io::DatasetIndex::Entry& e : index.training) {
        const Tensor<float> image = io::read_tiff_stack<float>(e.image);
        const Tensor<std::uint8_t> label = io::read_tiff_stack<std::uint8_t>(e.label);
        REQUIRE(image.shape() == Shape{k_dim, k_dim, k_dim});
        REQUIRE(label.shape() == image.shape());
        float lo = 1, hi = 0;
        Index foreground = 0, not_binary = 0;
        for (Index i = 0; i < image.numel(); ++i) {
            lo = std::min(lo, image.data()[i]);
            hi = std::max(hi, image.data()[i]);
            not_binary += label.data()[i] > 1;
            foreground += label.data()[i];
        }
        CHECK(lo == 0.0f);
        CHECK(hi == 1.0f);
        CHECK(not_binary == 0);
        const bool artifact = e.name.starts_with("Axonsa");
        if (artifact) CHECK_MESSAGE(foreground == 0, e.name);
        else axon_crops_with_foreground += foreground > 0;
    }
    CHECK(axon_crops_with_foreground >= 15);  // of 18: the synthetic cubes are full of axons
}

TEST_CASE("A seed makes the same bytes at any thread count, in both formats; another seed does not") {
    const Folders f("training_set_seed");
    const int threads = thread_count();
    make_into(f.dir / "a", f, all_options(11));
    make_into(f.dir / "n", f, all_options(11), io::DatasetFormat::nnunet);
    set_thread_count(1);
    make_into(f.dir / "b", f, all_options(11));
    make_into(f.dir / "m", f, all_options(11), io::DatasetFormat::nnunet);
    set_thread_count(threads);
    make_into(f.dir / "c", f, all_options(12));
    const auto a = folder_bytes(f.dir / "a"), b = folder_bytes(f.dir / "b"), c = folder_bytes(f.dir / "c");
    CHECK(a.size() == 26 * 2 + 1 + 1 + 13);  // images, labels, the test image, dataset.json, a preview per case
    CHECK(a.count("previews/Axons001c.png"));
    CHECK(a == b);
    CHECK(folder_bytes(f.dir / "n") == folder_bytes(f.dir / "m"));
    REQUIRE(a.size() == c.size());
    CHECK(a.at("images/Axons0010.tiff") != c.at("images/Axons0010.tiff"));
}

TEST_CASE("The nnU-Net task holds NIfTI images and labels and a dataset.json both readers accept") {
    const Folders f("training_set_nnunet");
    make_into(f.dir / "Task007_Axons", f, all_options(), io::DatasetFormat::nnunet);
    const io::DatasetIndex index = io::read_dataset_index(f.dir / "Task007_Axons");
    CHECK(index.format == io::DatasetFormat::nnunet);
    REQUIRE(index.training.size() == 26);
    REQUIRE(index.test.size() == 1);
    CHECK(index.training[0].image.filename() == "Axons0010_0000.nii.gz");
    const io::NiftiVolume<float> image = io::read_nifti<float>(index.training[0].image);
    const io::NiftiVolume<std::uint8_t> label = io::read_nifti<std::uint8_t>(index.training[0].label);
    CHECK(image.data.shape() == Shape{k_dim, k_dim, k_dim});
    CHECK(label.data.shape() == image.data.shape());
    CHECK(io::probe_nifti(index.training[0].image).type == io::NiftiType::f32);
    std::ifstream in(f.dir / "Task007_Axons" / "dataset.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    CHECK(j["numTraining"] == 26);
    CHECK(j["modality"]["0"] == "MI");
    CHECK(j["labels"]["1"] == "axon");
    CHECK(j["test"][0] == "./imagesTs/Axons900.nii.gz");

    fs::remove(index.training[3].label);
    CHECK_THROWS_WITH_AS(io::read_dataset_index(f.dir / "Task007_Axons"),
                         doctest::Contains((index.training[3].label.string() + ", which is missing").c_str()), Error);
}

TEST_CASE("Contrast weakening changes axon crops, not their labels, and leaves artefact crops alone") {
    const Folders f("training_set_contrast");
    TrainingSetParams on = all_options(5), off = all_options(5);
    off.contrast = false;
    make_into(f.dir / "on", f, on);
    make_into(f.dir / "off", f, off);
    const auto a = folder_bytes(f.dir / "on"), b = folder_bytes(f.dir / "off");
    Index changed = 0;
    for (const auto& [name, bytes] : a) {
        if (name.starts_with("labels/") || name.starts_with("images/Axonsa")) CHECK_MESSAGE(bytes == b.at(name), name);
        else if (name.starts_with("images/")) changed += bytes != b.at(name);
    }
    CHECK(changed >= 15);  // of 18 axon crops; one without foreground away from the border stays
}

TEST_CASE("Bad folders and options are errors naming the folder or file") {
    const Folders f("training_set_errors");
    augment::Rng rng(0);
    const auto plan = [&](const fs::path& base, const fs::path& source, const TrainingSetParams& p) {
        return plan_training_set(base, source, p, rng);
    };
    CHECK_THROWS_WITH_AS(plan(f.dir / "nowhere", {}, {}),
                         doctest::Contains("nowhere/train: has no volumes/ (or cropped-cubes/) folder"), Error);
    CHECK_THROWS_WITH_AS(plan(f.base, {}, {.match = true}), doctest::Contains("--match and --join need a --source"),
                         Error);
    CHECK_THROWS_WITH_AS(plan(f.base, {}, {.dim = 100}), doctest::Contains("no axon cube is at least 100 voxels"),
                         Error);
    fs::remove(f.base / "train" / "Fine-label" / "label-002.tiff");
    CHECK_THROWS_WITH_AS(plan(f.base, {}, {.dim = k_dim}), doctest::Contains("volume-002.tiff: has no fine label"),
                         Error);
    fs::remove_all(f.source / "train" / "artifacts");
    CHECK_THROWS_WITH_AS(plan(f.source, {}, {.dim = k_dim, .cutmix = true}),
                         doctest::Contains("--mix-artifacts and --cutmix need artefact cubes"), Error);
    std::ofstream(f.base / "train" / "Fine-label" / "label-002.tiff") << "not a tiff";
    CHECK_THROWS_WITH_AS(plan(f.base, {}, {.dim = k_dim}), doctest::Contains("label-002.tiff"), Error);
}

TEST_CASE("An output folder is made under a temporary name and replaces the old one only when complete") {
    const test::ScratchDir dir("training_set_atomic");
    const fs::path target = dir / "Task001_A";
    fs::create_directories(target);
    std::ofstream(target / "mine.txt") << "the user's";
    CHECK_THROWS_WITH_AS(io::AtomicFolder(target, false), doctest::Contains("Task001_A already exists"), Error);
    {  // a run that fails before commit leaves the old folder and no temporary behind
        io::AtomicFolder folder(target, true);
        std::ofstream(folder.temp_path() / "half.txt") << "half";
    }
    CHECK(fs::exists(target / "mine.txt"));
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
    {
        io::AtomicFolder folder(target, true);
        std::ofstream(folder.temp_path() / "new.txt") << "new";
        folder.commit();
    }
    CHECK(fs::exists(target / "new.txt"));
    CHECK(!fs::exists(target / "mine.txt"));
    CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

#ifdef AXONSEG_CLI
// examples/CMakeLists.txt defines AXONSEG_CLI (the axonseg executable) when it builds the command.
TEST_CASE("axonseg make-dataset writes the set the library makes, shows progress and keeps an existing set") {
    const Folders f("training_set_cli");
    const std::string command = std::string(AXONSEG_CLI) + " make-dataset --base " + f.base.string() + " --source " +
                                f.source.string() + " --out " + (f.dir / "out").string() +
                                " --task-id 7 --task-name Axons --dim 32 --match --join --mix-artifacts --cutmix --seed 3";
    REQUIRE(std::system((command + " > " + (f.dir / "log.txt").string() + " 2>&1").c_str()) == 0);
    std::ifstream log(f.dir / "log.txt");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK(text.find("26/26 crops") != std::string::npos);
    CHECK(text.find("wrote 26 training crops (18 axon, 8 artefact) and 1 test images") != std::string::npos);
    CHECK(text.find("skipped ") != std::string::npos);
    TrainingSetParams p = all_options(3);
    p.weakening = {};  // the command's default radius
    make_into(f.dir / "library", f, p);
    auto cli = folder_bytes(f.dir / "out" / "Task007_Axons"), lib = folder_bytes(f.dir / "library");
    cli.erase("dataset.json");  // the command adds its options to the generator entry
    lib.erase("dataset.json");
    CHECK(cli == lib);
    CHECK(std::system((command + " > /dev/null 2>&1").c_str()) != 0);  // exists: refused
    CHECK(std::system((command + " --format nnunet --overwrite > /dev/null 2>&1").c_str()) == 0);
    CHECK(fs::exists(f.dir / "out" / "Task007_Axons" / "imagesTr" / "Axons0010_0000.nii.gz"));
    CHECK(!fs::exists(f.dir / "out" / "Task007_Axons" / "images"));
}
#endif
