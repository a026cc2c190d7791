package main

func init() {
	commands["eval"] = command{
		summary: "replay a dataset prequentially and print model quality (eval kt | eval recommend | eval plot)",
		subs: map[string]command{
			"kt":        {summary: "knowledge tracing: predict each attempt before learning from it (--data FILE)", run: runEvalKT},
			"recommend": {summary: "recommender: rank before each interaction, then learn from it (--data FILE)", run: runEvalRecommend},
			"plot":      {summary: "draw the prequential curves of a bench/recommend run as SVG (--results FILE --out FILE.svg)", run: runEvalPlot},
		},
	}
}
