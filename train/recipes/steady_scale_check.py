"""Do steady statistics calibrated at 640x480 hold at the larger sizes a GPU paints? One frame, two sizes.

Usage: python train/recipes/steady_scale_check.py   (writes docs/images/steady_scale_bunny.jpg)

hayao-full on frame 39 of bigbuckbunny.mp4 at 640x360 and at its own 1280x720, each frame's
statistics next to the steady ones; prints each pair's PSNR and mean colours (docs/QUALITY.md).
"""
import numpy as np, torch, cv2
from cartoonize.generators import RgbU8Model, set_statistics
from cartoonize.weights import load_generator
from cartoonize.styles import resolve_style
from cartoonize.quality import psnr
from cartoonize.samples import sample_clip
from cartoonize.tools.quality_table import load_frames
torch.set_num_threads(2)
f = load_frames(sample_clip("bigbuckbunny.mp4"), 40)[39]
small = cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA)
g, _ = load_generator(resolve_style("hayao-full").weights); m = RgbU8Model(g).eval()
out = {}
for name, img in (("640", small), ("1280", f)):
    for mode in ("frame", "steady"):
        set_statistics(g, mode)
        with torch.inference_mode(): out[name, mode] = m(torch.from_numpy(img)[None])[0].numpy()
    print(name, "steady vs frame PSNR", round(psnr(out[name, "steady"], out[name, "frame"]), 2),
          "mean colour frame", out[name, "frame"].reshape(-1, 3).mean(0).round(1), "steady", out[name, "steady"].reshape(-1, 3).mean(0).round(1))
row = lambda a, b: np.concatenate([cv2.resize(a, (640, 360)), cv2.resize(b, (640, 360))], 1)
cv2.imwrite("docs/images/steady_scale_bunny.jpg", cv2.cvtColor(np.concatenate([row(out["640", "frame"], out["640", "steady"]), row(out["1280", "frame"], out["1280", "steady"])], 0), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 85])
