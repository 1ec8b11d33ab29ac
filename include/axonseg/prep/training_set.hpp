// Training-set creation (pipeline §4, D-LMBmap's create_data): axon cubes with their fine labels,
// optionally histogram-matched copies, junk ("artefact") cubes with empty labels and CutMix of the
// two, each cut into random crops that go through the augmentations of augment/, written by
// io::DatasetWriter. docs/training_set.md says where this differs from the
// original and why.
// The decision a reader would get wrong: every random choice comes from one generator seeded by
// the user, drawn in a fixed order: first the per-cube choices (match references, CutMix partners
// and corners), then one forked generator per crop. Crops can then be made on any number of
// threads and the same seed still writes the same bytes.
// This step joins io, prep and augment, so unlike the rest of prep it includes io.
#pragma once

#include "axonseg/augment/affine.hpp"
#include "axonseg/augment/contrast.hpp"
#include "axonseg/augment/cutmix.hpp"
#include "axonseg/augment/geometry.hpp"
#include "axonseg/augment/histogram_match.hpp"
#include "axonseg/augment/normalise.hpp"
#include "axonseg/io/dataset_folder.hpp"
#include "axonseg/io/tiff_read.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace axonseg::prep {

struct TrainingSetParams {
    std::string task_name = "Axons";  // case names start with it
    Index samples = 2;                // crops per axon case (the original's n_samples)
    Index dim = 128;                  // crop edge (input_dim); smaller cubes are skipped
    bool match = false;               // add a histogram-matched copy of every cube (needs a source)
    bool join = false;                // add the source's cubes as originals (needs a source)
    bool mix_artifacts = false;       // add the artefact cubes as cases with empty labels
    bool cutmix = false;              // add a CutMix case per axon cube (needs artefact cubes)
    bool contrast = true;             // local contrast weakening of axon crops
    std::uint64_t seed = 0;
    augment::RandomAffine affine{};
    augment::LocalContrastWeakening weakening{};
};

// The cube files of one `train` folder: volumes/ (or cropped-cubes/, the README's name) with
// volume-<N>.tiff, Fine-label/label-<N>.tiff for each, and artifacts/volume-<N>.tiff.
struct CubeFiles {
    struct Axon {
        std::string number;  // <N> as written in the file name ("001")
        std::filesystem::path volume, label;
    };
    struct Artifact {
        std::string number;
        std::filesystem::path volume;
    };
    std::vector<Axon> axons;
    std::vector<Artifact> artifacts;
};

namespace detail {

// The files <prefix>-<N>.tif(f) of dir by their number string N (none when dir is missing).
inline std::map<std::string, std::filesystem::path> numbered_files(const std::filesystem::path& dir,
                                                                   const char* prefix) {
    namespace fs = std::filesystem;
    std::map<std::string, fs::path> files;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return files;
    const std::regex pattern(std::string(prefix) + "-([0-9]+)\\.tiff?");
    for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
        std::smatch m;
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && std::regex_match(name, m, pattern)) files[m[1]] = e.path();
    }
    return files;
}

}  // namespace detail

// Finds the cubes of `train_dir`, sorted by number. Throws naming the folder or file when the
// volume folder is missing or a volume has no label (or a label no volume).
inline CubeFiles find_cubes(const std::filesystem::path& train_dir) {
    namespace fs = std::filesystem;
    fs::path volume_dir = train_dir / "volumes";
    if (!fs::is_directory(volume_dir)) volume_dir = train_dir / "cropped-cubes";
    AXONSEG_CHECK(fs::is_directory(volume_dir), train_dir.string(),
                  ": has no volumes/ (or cropped-cubes/) folder of axon cubes volume-<N>.tiff");
    const auto volumes = detail::numbered_files(volume_dir, "volume");
    const auto labels = detail::numbered_files(train_dir / "Fine-label", "label");
    AXONSEG_CHECK(!volumes.empty(), volume_dir.string(), ": holds no volume-<N>.tiff");
    CubeFiles files;
    for (const auto& [number, volume] : volumes) {
        const auto label = labels.find(number);
        AXONSEG_CHECK(label != labels.end(), volume.string(), ": has no fine label ",
                      (train_dir / "Fine-label" / ("label-" + number + ".tiff")).string());
        files.axons.push_back({number, volume, label->second});
    }
    for (const auto& [number, label] : labels)
        AXONSEG_CHECK(volumes.count(number), label.string(), ": has no volume volume-", number, ".tiff in ",
                      volume_dir.string());
    for (const auto& [number, volume] : detail::numbered_files(train_dir / "artifacts", "volume"))
        files.artifacts.push_back({number, volume});
    return files;
}

namespace detail {

// Any sample type the TIFF reader knows, as float (exact for uint8, uint16 and float32).
inline Tensor<float> read_as_float(const std::filesystem::path& file) {
    switch (io::probe_tiff(file).dtype) {
        case DType::u8: return to<float>(io::read_tiff_stack<std::uint8_t>(file));
        case DType::u16: return to<float>(io::read_tiff_stack<std::uint16_t>(file));
        case DType::f32: return io::read_tiff_stack<float>(file);
        default: AXONSEG_FAIL(file.string(), ": a cube must hold uint8, uint16 or float32 samples");
    }
}

inline Tensor<std::uint8_t> read_label(const std::filesystem::path& file) {
    const Tensor<float> v = read_as_float(file);
    Tensor<std::uint8_t> label(v.shape());
    for (Index i = 0; i < v.numel(); ++i) label.data()[i] = v.data()[i] > 0;
    return label;
}

}  // namespace detail

// A loaded cube: the image and, for an axon cube, its 0/1 label.
struct Cube {
    std::string number;  // <N> of its file name
    std::filesystem::path file;
    Tensor<float> image;          // (D,H,W)
    Tensor<std::uint8_t> label;   // (D,H,W), or empty for an artefact cube
};

// The four sets of cubes a run loads. Source cubes serve as histogram-matching references and,
// with join, as extra originals.
enum class Pool { base_axons, source_axons, base_artifacts, source_artifacts };
struct CubeRef {
    Pool pool = Pool::base_axons;
    std::size_t index = 0;
};

// One case of the set: how to make its full-size image and label from the loaded cubes, and how
// many crops to cut from it.
struct CaseRecipe {
    std::string name;
    bool axon = true;  // an axon case (full augmentation) or an artefact case (crop and turn only)
    CubeRef cube;
    std::optional<CubeRef> match_reference;
    struct Cutmix {
        CubeRef artifact;
        std::optional<CubeRef> artifact_reference;  // the artefact is matched too when the axon cube is
        Index3 corner;
    };
    std::optional<Cutmix> cutmix;
    Index crops = 0;
};

// Everything make_training_set works from: the cubes, the cases, the test images.
struct TrainingSetPlan {
    std::vector<Cube> base_axons, source_axons, base_artifacts, source_artifacts;
    std::vector<CaseRecipe> cases;
    std::vector<Cube> tests;            // images only
    std::vector<std::string> skipped;   // "file: why" for each cube left out

    const Cube& cube(const CubeRef& r) const {
        switch (r.pool) {
            case Pool::base_axons: return base_axons.at(r.index);
            case Pool::source_axons: return source_axons.at(r.index);
            case Pool::base_artifacts: return base_artifacts.at(r.index);
            case Pool::source_artifacts: return source_artifacts.at(r.index);
        }
        AXONSEG_FAIL("TrainingSetPlan: bad pool");
    }
    Index crops() const {
        Index n = 0;
        for (const CaseRecipe& c : cases) n += c.crops;
        return n;
    }
};

namespace detail {

inline std::vector<Cube> load_axon_cubes(const CubeFiles& files) {
    std::vector<Cube> cubes;
    for (const CubeFiles::Axon& f : files.axons) {
        Cube c{f.number, f.volume, read_as_float(f.volume), read_label(f.label)};
        AXONSEG_CHECK(c.image.shape() == c.label.shape(), f.volume.string(), " ", c.image.shape(), " and its label ",
                      f.label.string(), " ", c.label.shape(), " differ in shape");
        cubes.push_back(std::move(c));
    }
    return cubes;
}

inline std::vector<Cube> load_artifact_cubes(const CubeFiles& files) {
    std::vector<Cube> cubes;
    for (const CubeFiles::Artifact& f : files.artifacts) cubes.push_back({f.number, f.volume, read_as_float(f.volume), {}});
    return cubes;
}

// The refs of the cubes of `pool` that are at least dim on every axis; the others go to `skipped`.
inline std::vector<CubeRef> fitting(const TrainingSetPlan& plan, Pool pool, std::size_t count, Index dim,
                                    std::vector<std::string>& skipped) {
    std::vector<CubeRef> refs;
    for (std::size_t i = 0; i < count; ++i) {
        const Cube& c = plan.cube({pool, i});
        if (c.image.dim(0) >= dim && c.image.dim(1) >= dim && c.image.dim(2) >= dim) refs.push_back({pool, i});
        else skipped.push_back(axonseg::detail::concat(c.file.string(), ": ", c.image.shape(),
                                                       " is smaller than the crop edge ", dim, " on some axis"));
    }
    return refs;
}

inline CubeRef random_ref(Pool pool, std::size_t count, augment::Rng& rng) {
    return {pool, std::size_t(augment::uniform_int(rng, 0, Index(count) - 1))};
}

}  // namespace detail

// Loads the cubes of base/train (and source/train, base/val/volumes) and draws the per-cube choices
// from rng, in the order of pipeline §4 steps 1-5 and 8.
inline TrainingSetPlan plan_training_set(const std::filesystem::path& base, const std::filesystem::path& source,
                                         const TrainingSetParams& p, augment::Rng& rng) {
    AXONSEG_CHECK(p.samples >= 1 && p.dim >= 1, "make-dataset: --samples ", p.samples, " and --dim ", p.dim,
                  " must be positive");
    AXONSEG_CHECK(!(p.match || p.join) || !source.empty(), "make-dataset: --match and --join need a --source folder");
    TrainingSetPlan plan;
    const CubeFiles base_files = find_cubes(base / "train");
    const bool with_artifacts = p.mix_artifacts || p.cutmix;
    AXONSEG_CHECK(!with_artifacts || !base_files.artifacts.empty(), (base / "train" / "artifacts").string(),
                  ": --mix-artifacts and --cutmix need artefact cubes volume-<N>.tiff here");
    plan.base_axons = detail::load_axon_cubes(base_files);
    if (with_artifacts) plan.base_artifacts = detail::load_artifact_cubes(base_files);
    if (!source.empty() && (p.match || p.join)) {
        const CubeFiles source_files = find_cubes(source / "train");
        plan.source_axons = detail::load_axon_cubes(source_files);
        if (with_artifacts) {
            AXONSEG_CHECK(!source_files.artifacts.empty(), (source / "train" / "artifacts").string(),
                          ": --match and --join with artefacts need the source's artefact cubes here");
            plan.source_artifacts = detail::load_artifact_cubes(source_files);
        }
    }

    // Steps 1-3: axon originals (the base's, then with join the source's), then matched copies.
    const std::string& task = p.task_name;
    std::vector<CubeRef> axons = detail::fitting(plan, Pool::base_axons, plan.base_axons.size(), p.dim, plan.skipped);
    const std::size_t base_axon_count = axons.size();
    if (p.join)
        for (const CubeRef& r : detail::fitting(plan, Pool::source_axons, plan.source_axons.size(), p.dim, plan.skipped))
            axons.push_back(r);
    AXONSEG_CHECK(!axons.empty(), (base / "train").string(), ": no axon cube is at least ", p.dim,
                  " voxels on every axis (--dim)");
    const auto axon_name = [&](const CubeRef& r) {
        return task + (r.pool == Pool::source_axons ? "s" : "") + plan.cube(r).number;
    };
    for (const CubeRef& r : axons) plan.cases.push_back({axon_name(r), true, r, {}, {}, p.samples});
    std::vector<CubeRef> axon_references(axons.size());  // the matched copy's, per original
    if (p.match)
        for (std::size_t i = 0; i < axons.size(); ++i) {
            axon_references[i] = detail::random_ref(Pool::source_axons, plan.source_axons.size(), rng);
            plan.cases.push_back({axon_name(axons[i]) + "m", true, axons[i], axon_references[i], {}, p.samples});
        }

    // Step 4: artefact originals and their matched copies; step 8 fixes their crop count.
    std::vector<CubeRef> artifacts =
        detail::fitting(plan, Pool::base_artifacts, plan.base_artifacts.size(), p.dim, plan.skipped);
    const std::size_t base_artifact_count = artifacts.size();
    if (p.join)
        for (const CubeRef& r :
             detail::fitting(plan, Pool::source_artifacts, plan.source_artifacts.size(), p.dim, plan.skipped))
            artifacts.push_back(r);
    AXONSEG_CHECK(!with_artifacts || !artifacts.empty(), (base / "train" / "artifacts").string(),
                  ": no artefact cube is at least ", p.dim, " voxels on every axis (--dim)");
    if (p.mix_artifacts) {
        const Index crops =
            std::max<Index>(1, Index(double(base_axon_count) / double(base_artifact_count) * double(p.samples) / 2));
        const auto artifact_name = [&](const CubeRef& r) {
            return task + "a" + (r.pool == Pool::source_artifacts ? "s" : "") + plan.cube(r).number;
        };
        for (const CubeRef& r : artifacts) plan.cases.push_back({artifact_name(r), false, r, {}, {}, crops});
        if (p.match)
            for (const CubeRef& r : artifacts)
                plan.cases.push_back({artifact_name(r) + "m", false, r,
                                      detail::random_ref(Pool::source_artifacts, plan.source_artifacts.size(), rng),
                                      {}, crops});
    }

    // Step 5: one CutMix case per axon original, from the original or (at random) its matched copy.
    if (p.cutmix)
        for (std::size_t i = 0; i < axons.size(); ++i) {
            const bool matched = p.match && augment::coin(rng);
            CaseRecipe c{axon_name(axons[i]) + "c", true, axons[i], {}, {}, p.samples};
            if (matched) c.match_reference = axon_references[i];
            CaseRecipe::Cutmix m;
            m.artifact = artifacts[std::size_t(augment::uniform_int(rng, 0, Index(artifacts.size()) - 1))];
            if (matched) m.artifact_reference = detail::random_ref(Pool::source_artifacts, plan.source_artifacts.size(), rng);
            m.corner = augment::random_cutmix_corner(plan.cube(axons[i]).image.shape(), plan.cube(m.artifact).image.shape(), rng);
            c.cutmix = m;
            plan.cases.push_back(std::move(c));
        }

    // The test images: base/val/volumes (the source's with --match, as the original does, when it has them).
    std::filesystem::path val = base / "val" / "volumes";
    if (p.match && std::filesystem::is_directory(source / "val" / "volumes")) val = source / "val" / "volumes";
    for (const auto& [number, file] : detail::numbered_files(val, "volume"))
        plan.tests.push_back({number, file, detail::read_as_float(file), {}});
    return plan;
}

// The full-size image and label of a case: the cube, matched and mixed as its recipe says.
inline augment::Sample make_case_volume(const TrainingSetPlan& plan, const CaseRecipe& c) {
    const Cube& cube = plan.cube(c.cube);
    augment::Sample s;
    s.image = c.match_reference ? augment::match_histograms(cube.image, plan.cube(*c.match_reference).image)
                                : clone(cube.image.view());
    s.label = c.axon ? clone(cube.label.view()) : Tensor<std::uint8_t>::zeros(cube.image.shape());
    if (c.cutmix) {
        const Cube& artifact = plan.cube(c.cutmix->artifact);
        if (c.cutmix->artifact_reference)
            augment::cutmix(s, augment::match_histograms(artifact.image, plan.cube(*c.cutmix->artifact_reference).image),
                            c.cutmix->corner);
        else augment::cutmix(s, artifact.image, c.cutmix->corner);
    }
    return s;
}

// What a finished run reports.
struct TrainingSetSummary {
    io::DatasetDescription description;
    std::vector<std::string> skipped;
};

// Makes the training set of base (and source) with p, writing each crop through `writer` as soon
// as it is made; `progress(done, total)` after each crop. The caller finishes the writer.
inline TrainingSetSummary make_training_set(const std::filesystem::path& base, const std::filesystem::path& source,
                                            const TrainingSetParams& p, const io::DatasetWriter& writer,
                                            const std::function<void(Index, Index)>& progress = {}) {
    augment::Rng rng(p.seed);
    const TrainingSetPlan plan = plan_training_set(base, source, p, rng);
    TrainingSetSummary summary;
    summary.skipped = plan.skipped;
    io::DatasetDescription& d = summary.description;
    d.name = p.task_name;
    const Index total = plan.crops();
    const augment::LocalContrastWeakening no_weakening{.spots = 0};
    Index done = 0;
    for (const CaseRecipe& c : plan.cases) {
        const augment::Sample whole = make_case_volume(plan, c);
        std::vector<augment::Rng> rngs;  // one per crop, forked in order
        for (Index j = 0; j < c.crops; ++j) rngs.push_back(augment::fork(rng));
        std::vector<std::string> names;
        for (Index j = 0; j < c.crops; ++j) names.push_back(c.name + std::to_string(j));
        // Crops in parallel, one per thread; the operations inside then run on that thread alone.
        io::detail::parallel_chunks_rethrow(0, c.crops, [&](Index begin, Index end) {
            for (Index j = begin; j < end; ++j) {
                augment::Rng& r = rngs[std::size_t(j)];
                augment::Sample s = augment::RandomCrop{p.dim}.cut(whole, r);
                if (c.axon)
                    augment::apply(s, r, augment::RandomRot90{}, augment::RandomFlips{}, p.affine,
                                   p.contrast ? p.weakening : no_weakening, augment::MinMaxNormalise{});
                else
                    augment::apply(s, r, augment::RandomRot90{}, augment::MinMaxNormalise{});
                writer.write_training(names[std::size_t(j)], s.image, s.label);
                if (j == 0) writer.write_preview(c.name, s.image, s.label);  // one look per case
            }
        });
        for (Index j = 0; j < c.crops; ++j) {
            nlohmann::json from = {{"cube", plan.cube(c.cube).file.filename().string()}};
            if (c.match_reference) from["matched_to"] = plan.cube(*c.match_reference).file.filename().string();
            if (c.cutmix) {
                from["cutmix_with"] = plan.cube(c.cutmix->artifact).file.filename().string();
                from["cutmix_corner"] = {c.cutmix->corner.d, c.cutmix->corner.h, c.cutmix->corner.w};
            }
            d.training.push_back({names[std::size_t(j)], c.axon ? "axon" : "artifact", from});
        }
        done += c.crops;
        if (progress) progress(done, total);
    }
    for (const Cube& t : plan.tests) {
        const std::string name = p.task_name + t.number;
        writer.write_test(name, t.image);
        d.test.push_back(name);
    }
    return summary;
}

}  // namespace axonseg::prep
