// colormap.glsl: scalar in [0,1] -> RGB, the GPU twin of src/explain/colormap.cpp (same
// polynomials, same order: 0 viridis, 1 inferno, 2 turbo, 3 jet, 4 grey). viridis and inferno
// are Matt Zucker's fits (CC0, shadertoy WlfXRN), turbo Google's (Anton Mikhailov, Apache-2.0).
// Keep the coefficients identical to colormap.cpp.

vec3 cmap_viridis(float t) {
    const vec3 c0 = vec3(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    const vec3 c1 = vec3(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    const vec3 c2 = vec3(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    const vec3 c3 = vec3(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    const vec3 c4 = vec3(6.228269936347081, 14.17993336680509, 56.69055260068105);
    const vec3 c5 = vec3(4.776384997670288, -13.74514537774601, -65.35303263337234);
    const vec3 c6 = vec3(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

vec3 cmap_inferno(float t) {
    const vec3 c0 = vec3(0.0002189403691192265, 0.001651004631001012, -0.01948089843709184);
    const vec3 c1 = vec3(0.1065134194856116, 0.5639564367884091, 3.932712388889277);
    const vec3 c2 = vec3(11.60249308247187, -3.972853965665698, -15.9423941062914);
    const vec3 c3 = vec3(-41.70399613139459, 17.43639888205313, 44.35414519872813);
    const vec3 c4 = vec3(77.162935699427, -33.40235894210092, -81.80730925738993);
    const vec3 c5 = vec3(-71.31942824499214, 32.62606426397723, 73.20951985803202);
    const vec3 c6 = vec3(25.13112622477341, -12.24266895238567, -23.07032500287172);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

vec3 cmap_turbo(float t) {
    const vec3 c0 = vec3(0.13572138, 0.09140261, 0.10667330);
    const vec3 c1 = vec3(4.61539260, 2.19418839, 12.64194608);
    const vec3 c2 = vec3(-42.66032258, 4.84296658, -60.58204836);
    const vec3 c3 = vec3(132.13108234, -14.18503333, 110.36276771);
    const vec3 c4 = vec3(-152.94239396, 4.27729857, -89.90310912);
    const vec3 c5 = vec3(59.28637943, 2.82956604, 27.34824973);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * c5))));
}

vec3 cmap_jet(float t) {
    return clamp(vec3(1.5) - abs(4.0 * t - vec3(3.0, 2.0, 1.0)), 0.0, 1.0);
}

vec3 colormap(int which, float t) {
    t = clamp(t, 0.0, 1.0);
    vec3 c;
    if (which == 0) c = cmap_viridis(t);
    else if (which == 1) c = cmap_inferno(t);
    else if (which == 2) c = cmap_turbo(t);
    else if (which == 3) c = cmap_jet(t);
    else c = vec3(t);
    return clamp(c, 0.0, 1.0);
}
