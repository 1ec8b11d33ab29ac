// Training-set folders on disk, in two formats (docs/formats.md):
//   axonseg  TaskXXX_NAME/{images,labels,test}/<case>.tiff + dataset.json, the project's own, with
//            what made each case (the trainer reads it);
//   nnunet   TaskXXX_NAME/{imagesTr,labelsTr,imagesTs} NIfTI + dataset.json, an nnU-Net v1 raw
//            task, so the original can train on a set made here.
// Both also get previews/<case>.png for a look at what was made.
// DatasetWriter puts the files of one case at a time (safe from several threads: each case has its
// own files) and dataset.json last; read_dataset_index reads either format back and checks its files.
#pragma once

#include "axonseg/io/atomic_file.hpp"
#include "axonseg/io/nifti.hpp"
#include "axonseg/io/png_preview.hpp"
#include "axonseg/io/tiff_write.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace axonseg::io {

enum class DatasetFormat { axonseg, nnunet };

// One training case as dataset.json lists it.
struct DatasetCase {
    std::string name;
    std::string kind;             // "axon" or "artifact"
    nlohmann::json provenance{};  // what made it (axonseg format only)
};

struct DatasetDescription {
    std::string name;             // the task name
    Index task_id = 0;
    std::vector<DatasetCase> training;
    std::vector<std::string> test;
    nlohmann::json generator{};   // the options and seed that made the set (axonseg format only)
};

// "Task007_Axons": the folder name both formats use (nnU-Net's convention).
inline std::string task_folder_name(Index task_id, const std::string& task_name) {
    AXONSEG_CHECK(task_id >= 0 && task_id <= 999, "task id ", task_id, " must be 0..999 (nnU-Net's TaskXXX)");
    AXONSEG_CHECK(!task_name.empty() && task_name.find_first_of("/\\ ") == std::string::npos, "task name '",
                  task_name, "' must be non-empty without spaces or slashes");
    char id[8];
    std::snprintf(id, sizeof(id), "%03d", int(task_id));
    return std::string("Task") + id + "_" + task_name;
}

namespace detail {

inline void write_json(const std::filesystem::path& file, const nlohmann::json& j) {
    AtomicFile target(file);
    {
        std::ofstream out(target.temp_path());
        out << j.dump(2) << '\n';
        AXONSEG_CHECK(out.good(), file.string(), ": cannot write");
    }
    target.commit();
}

inline void make_folders(const std::filesystem::path& dir, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        std::error_code ec;
        std::filesystem::create_directories(dir / name, ec);
        AXONSEG_CHECK(!ec, (dir / name).string(), ": cannot create the folder (", ec.message(), ")");
    }
}

}  // namespace detail

// Writes a training set into `dir` (which exists: an AtomicFolder's temporary, say) in `format`.
class DatasetWriter {
public:
    DatasetWriter(std::filesystem::path dir, DatasetFormat format) : m_dir(std::move(dir)), m_format(format) {
        if (nnunet()) detail::make_folders(m_dir, {"imagesTr", "labelsTr", "imagesTs", "previews"});
        else detail::make_folders(m_dir, {"images", "labels", "test", "previews"});
    }
    // image (D,H,W) float32, label (D,H,W) 0/1.
    void write_training(const std::string& name, TensorView<const float> image,
                        TensorView<const std::uint8_t> label) const {
        write(nnunet() ? "imagesTr/" + name + "_0000.nii.gz" : "images/" + name + ".tiff", image);
        write(nnunet() ? "labelsTr/" + name + ".nii.gz" : "labels/" + name + ".tiff", label);
    }
    // previews/<name>.png: the projection of the middle k_preview_slab slices, beside it the same
    // with the label over it (io/png_preview.hpp); a whole crop's label would cover everything.
    void write_preview(const std::string& name, TensorView<const float> image,
                       TensorView<const std::uint8_t> label) const {
        const Index slab = std::min(image.dim(0), k_preview_slab), first = (image.dim(0) - slab) / 2;
        io::write_preview(m_dir / "previews" / (name + ".png"), image.narrow(0, first, slab),
                          label.narrow(0, first, slab));
    }
    void write_test(const std::string& name, TensorView<const float> image) const {
        write(nnunet() ? "imagesTs/" + name + "_0000.nii.gz" : "test/" + name + ".tiff", image);
    }
    void finish(const DatasetDescription& d) const {
        detail::write_json(m_dir / "dataset.json", nnunet() ? nnunet_json(d) : axonseg_json(d));
    }

private:
    static constexpr Index k_preview_slab = 16;

    bool nnunet() const { return m_format == DatasetFormat::nnunet; }

    template <class T>
    void write(const std::string& relative, TensorView<const T> volume) const {
        if (nnunet()) write_nifti(m_dir / relative, volume);
        else write_tiff_stack(m_dir / relative, volume);
    }

    static nlohmann::json axonseg_json(const DatasetDescription& d) {
        nlohmann::json j = {{"format", "axonseg-dataset"},
                            {"version", 1},
                            {"name", d.name},
                            {"task_id", d.task_id},
                            {"labels", {{"0", "background"}, {"1", "axon"}}},
                            {"generator", d.generator},
                            {"training", nlohmann::json::array()},
                            {"test", nlohmann::json::array()}};
        for (const DatasetCase& c : d.training)
            j["training"].push_back({{"case", c.name},
                                     {"image", "images/" + c.name + ".tiff"},
                                     {"label", "labels/" + c.name + ".tiff"},
                                     {"kind", c.kind},
                                     {"provenance", c.provenance}});
        for (const std::string& name : d.test) j["test"].push_back({{"case", name}, {"image", "test/" + name + ".tiff"}});
        return j;
    }

    // nnU-Net v1's raw-task dataset.json (as D-LMBmap writes it).
    static nlohmann::json nnunet_json(const DatasetDescription& d) {
        nlohmann::json j = {{"name", d.name},
                            {"description", "made by axonseg make-dataset"},
                            {"tensorImageSize", "4D"},
                            {"reference", ""},
                            {"licence", ""},
                            {"release", "0.0"},
                            {"modality", {{"0", "MI"}}},
                            {"labels", {{"0", "background"}, {"1", "axon"}}},
                            {"numTraining", d.training.size()},
                            {"numTest", d.test.size()},
                            {"training", nlohmann::json::array()},
                            {"test", nlohmann::json::array()}};
        for (const DatasetCase& c : d.training)
            j["training"].push_back(
                {{"image", "./imagesTr/" + c.name + ".nii.gz"}, {"label", "./labelsTr/" + c.name + ".nii.gz"}});
        for (const std::string& name : d.test) j["test"].push_back("./imagesTs/" + name + ".nii.gz");
        return j;
    }

    std::filesystem::path m_dir;
    DatasetFormat m_format;
};

// Where the files of a dataset folder are, in its dataset.json's order.
struct DatasetIndex {
    DatasetFormat format = DatasetFormat::axonseg;
    std::string name;
    struct Entry {
        std::string name;
        std::filesystem::path image, label;  // label empty for test cases
    };
    std::vector<Entry> training, test;
};

// Reads dir/dataset.json of either format; every file it names must exist. Throws naming the
// file and the problem (missing, not JSON, not a dataset, a newer version, a missing case file).
inline DatasetIndex read_dataset_index(const std::filesystem::path& dir) {
    const std::filesystem::path file = dir / "dataset.json";
    std::ifstream in(file);
    AXONSEG_CHECK(in.good(), file.string(), ": cannot open (is ", dir.string(), " a dataset folder?)");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(file.string(), ": not valid JSON (", e.what(), ")");
    }
    DatasetIndex index;
    const auto need = [&](const std::filesystem::path& p) {
        AXONSEG_CHECK(std::filesystem::is_regular_file(p), file.string(), ": lists ", p.string(), ", which is missing");
        return p;
    };
    try {
        index.name = j.at("name").get<std::string>();
        if (j.contains("format")) {
            AXONSEG_CHECK(j.at("format") == "axonseg-dataset", file.string(), ": format ", j.at("format").dump(),
                          " is not an axonseg dataset");
            const int version = j.at("version").get<int>();
            AXONSEG_CHECK(version == 1, file.string(), ": dataset version ", version,
                          " is newer than this axonseg reads (1); update axonseg");
            for (const auto& c : j.at("training"))
                index.training.push_back({c.at("case").get<std::string>(), need(dir / c.at("image").get<std::string>()),
                                          need(dir / c.at("label").get<std::string>())});
            for (const auto& c : j.at("test"))
                index.test.push_back({c.at("case").get<std::string>(), need(dir / c.at("image").get<std::string>()), {}});
        } else {  // nnU-Net: "./imagesTr/X.nii.gz" stands for imagesTr/X_0000.nii.gz (one modality)
            index.format = DatasetFormat::nnunet;
            const auto image_of = [&](std::string listed, const char* folder) {
                const std::string tail = ".nii.gz";
                const std::filesystem::path p(listed);
                std::string stem = p.filename().string();
                AXONSEG_CHECK(stem.ends_with(tail), file.string(), ": image '", listed, "' does not end in .nii.gz");
                stem.resize(stem.size() - tail.size());
                return std::pair{stem, need(dir / folder / (stem + "_0000.nii.gz"))};
            };
            for (const auto& c : j.at("training")) {
                auto [name, image] = image_of(c.at("image").get<std::string>(), "imagesTr");
                index.training.push_back({name, image, need(dir / c.at("label").get<std::string>())});
            }
            for (const auto& c : j.at("test")) {
                auto [name, image] = image_of(c.get<std::string>(), "imagesTs");
                index.test.push_back({name, image, {}});
            }
        }
    } catch (const nlohmann::json::exception& e) {
        AXONSEG_FAIL(file.string(), ": not a dataset description (", e.what(), ")");
    }
    return index;
}

}  // namespace axonseg::io
