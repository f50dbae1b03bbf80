exec(open("results/ppo/relation_width/probes/encoder_channels_last.py").read().split("with torch.no_grad():")[0])
import statistics
enc2 = copy.deepcopy(enc).to(memory_format=torch.channels_last)
res = {"base": [], "cl": []}
with torch.no_grad():
    for r in range(15):
        for name, m in (("base", enc), ("cl", enc2)):
            res[name].append(bench(lambda: m(x), 200))
print({k: round(statistics.median(v), 3) for k, v in res.items()})
