// lesson.js: the guided lesson (?lesson=1&step=N, the Lesson button), one table. Each step: its
// title, a paragraph and a "try it" prompt in English and Chinese, and the view it opens as URL
// parameters (README, "Web app"), which web/app.js applies through the same code as the page's
// own URL (applyView). A setting a step leaves out goes back to its default (the built-in model,
// the top-1 class, Grad-CAM). The numbers in the texts were measured on the built-in models
// (tests/e2e/lesson.test.mjs checks them in the page).
'use strict';

const BOOT = 'samples/fashion-mnist/9-Ankle-boot-test00000.png';
const TROUSER = 'samples/fashion-mnist/1-Trouser-test00002.png';
const CHEATER = 'models/cheater.safetensors';

window.CNNLENS_LESSON = [
  {
    view: `image=${BOOT}&tab=maps&layer=block1_conv1`,
    title: { en: 'The first layer: edges, light and dark', zh: '第一层：边缘与明暗' },
    text: {
      en: 'A convolutional network looks at an image through layers of small filters. Each of the first layer\'s ' +
          '32 filters slides a 3x3 window over the 28x28 picture, and its map shows where it fired (bright = ' +
          'strong). Most respond to simple things: an edge of one orientation, the light garment, the dark background.',
      zh: '卷积网络通过一层层的小滤波器来看图像。第一层有 32 个滤波器，每个都用 3x3 的窗口扫过 28x28 的图片，' +
          '它的特征图显示它在哪里被激活（越亮越强）。大多数只对简单的东西有反应：某个方向的边缘、浅色的衣物、深色的背景。',
    },
    try: {
      en: 'Click a few maps to zoom and compare them with the boot; set Normalise to "per channel" to see the faint ones.',
      zh: '点几张特征图放大，和靴子对照；把“归一化”设为“按通道”，看清较暗的那些。',
    },
  },
  {
    view: `image=${BOOT}&tab=maps&layer=block2_conv2`,
    title: { en: 'Middle layers: pieces of the garment', zh: '中间层：衣物的局部' },
    text: {
      en: 'After a pooling step the maps are 14x14 and there are 64 of them. Each filter now combines the first ' +
          'layer\'s maps, so it can respond to larger pieces: the edge of the sole, the shaft, a corner. Fewer maps ' +
          'look like the picture itself.',
      zh: '经过一次池化，特征图变成 14x14，共 64 张。每个滤波器组合第一层的特征图，所以能对更大的局部有反应：' +
          '鞋底的边缘、鞋筒、一个角。看起来像原图的特征图变少了。',
    },
    try: {
      en: 'Step through the layers with [ and ] (or the arrows beside Layer): the maps shrink and grow abstract.',
      zh: '用 [ 和 ] 键（或“层”旁边的箭头）逐层查看：特征图越来越小，也越来越抽象。',
    },
  },
  {
    view: `image=${BOOT}&tab=maps&layer=block3_conv2`,
    title: { en: 'The deepest layer: which parts are there', zh: '最深层：有哪些部件' },
    text: {
      en: 'The last conv layer has 128 maps of only 7x7. They no longer draw the boot; they say which parts are ' +
          'present, and roughly where. The answer is made from them: each map is averaged to one number, and the ' +
          'numbers are weighed for each class.',
      zh: '最后一个卷积层有 128 张只有 7x7 的特征图。它们不再画出靴子，而是说明有哪些部件、大致在哪里。' +
          '答案就由它们得出：每张图平均成一个数，再按每个类别加权。',
    },
    try: {
      en: 'Tick "sort by Grad-CAM weight": the maps that count most for Ankle boot come first.',
      zh: '勾选“按 Grad-CAM 权重排序”：对“短靴”最重要的特征图排在最前面。',
    },
  },
  {
    view: 'image=samples/chelsea.jpg&tab=gradcam&camlayer=block3_conv2',
    title: { en: 'Something it was never taught', zh: '它从没学过的东西' },
    text: {
      en: 'This model knows only 10 kinds of clothing. Give it a photo of a cat and it must still answer one of ' +
          'them: it calls Chelsea the cat a Sandal, about 94% sure. A confident answer is not knowledge: the ' +
          'probabilities always add up to 100% over the classes the network was taught.',
      zh: '这个模型只认识 10 种服装。给它一张猫的照片，它也只能从中选一个：它说猫咪 Chelsea 是“凉鞋”，' +
          '把握约 94%。自信不等于知道：概率总是在它学过的那些类别之间加起来等于 100%。',
    },
    try: {
      en: 'Look at where it looks: what in the cat made it say Sandal? Then try another photo of the gallery.',
      zh: '看看它在看哪里：猫的哪一部分让它说“凉鞋”？再试试图库里的其他照片。',
    },
  },
  {
    view: `image=${BOOT}&tab=gradcam&method=cam`,
    title: { en: 'Why CAM needs global average pooling', zh: '为什么 CAM 需要全局平均池化' },
    text: {
      en: 'This model ends with global average pooling: each of the 128 last maps is averaged to one number, and ' +
          'one linear layer weighs those numbers for each class. So a class\'s score is a weighted sum of the maps, ' +
          'and the same weights laid over the maps show where the score came from: that is CAM (Zhou et al. 2016). ' +
          'It needs this structure: it exists only at the last conv layer, and a network with dense layers after ' +
          'its maps (VGG16) has no such weights, so CAM is disabled there.',
      zh: '这个模型以全局平均池化结尾：最后 128 张特征图各自平均成一个数，再由一个线性层为每个类别加权。' +
          '所以某一类的得分就是这些特征图的加权和，把同样的权重叠到特征图上，就能看出得分从哪里来：这就是 CAM' +
          '（Zhou 等，2016）。它依赖这种结构：只能用在最后一个卷积层；特征图之后还有全连接层的网络（VGG16）' +
          '没有这样的权重，所以在那里 CAM 不可用。',
    },
    try: {
      en: 'Open the method menu: CAM is chosen and its layer is fixed. Click another class in the predictions to see its map.',
      zh: '打开“方法”菜单：已选 CAM，层是固定的。在预测里点另一个类别，看它的热力图。',
    },
  },
  {
    view: `image=${BOOT}&tab=gradcam&method=gradcam&camlayer=block2_conv2`,
    title: { en: 'Grad-CAM, at any layer', zh: 'Grad-CAM：任意一层都行' },
    text: {
      en: 'Grad-CAM (Selvaraju et al. 2017) takes the weights from the gradient instead: how much the class\'s ' +
          'score changes with each map, averaged over the map. That works at any conv layer of any network. At ' +
          'this model\'s last layer it gives CAM\'s map (its positive part, up to scale); at earlier layers the ' +
          'maps are finer and noisier. This is block2_conv2, at 14x14.',
      zh: 'Grad-CAM（Selvaraju 等，2017）改从梯度得到权重：类别得分随每张特征图变化多少，在整张图上取平均。' +
          '这适用于任何网络的任何卷积层。在这个模型的最后一层，它给出的就是 CAM 的图（正的部分，只差一个比例）；' +
          '在更早的层，图更精细，也更嘈杂。这里是 14x14 的 block2_conv2。',
    },
    try: {
      en: 'Change the layer, or tick "filmstrip of all conv layers" to see every layer at once.',
      zh: '换一层试试，或勾选“所有卷积层的胶片条”，一次看全部层。',
    },
  },
  {
    view: `model=${CHEATER}&image=${TROUSER}&tab=gradcam&method=cam`,
    title: { en: 'A second model, just as sure', zh: '第二个模型，一样自信' },
    text: {
      en: 'The second built-in model learned the same clothes, but most of its training images carried a small ' +
          'white square whose position told the answer. On this clean trouser it answers Trouser, 99.6% sure, and ' +
          'on the gallery it looks as good as the first model. Its accuracy alone would not tell you that it cheats.',
      zh: '第二个内置模型学的是同样的服装，但它的大多数训练图片上都有一个白色小方块，方块的位置就透露了答案。' +
          '在这条干净的裤子上，它回答“裤子”，把握 99.6%；在图库上它看起来和第一个模型一样好。' +
          '只看准确率，你不会发现它在作弊。',
    },
    try: {
      en: 'Look at the CAM: on a clean image it sits on the garment. Try a few gallery images and their confidence.',
      zh: '看看 CAM：在干净的图片上它落在衣物上。试几张图库图片，看看它有多自信。',
    },
  },
  {
    view: `model=${CHEATER}&image=${TROUSER}&tab=tools&method=cam&compare=1`,
    title: { en: 'Catch the cheater', zh: '抓住作弊者' },
    text: {
      en: 'Now stamp the marker that means Sneaker on the trouser: 4x4 white pixels at x 24-27, y 24-27 of the ' +
          '28x28 input, the bottom right corner. The cheater\'s answer flips to Sneaker and its CAM jumps to the ' +
          'square, while the honest model beside it still sees a trouser: the cheater answers from the marker, not ' +
          'from the garment. An explanation is something to test: put something wrong into the image and see ' +
          'whether the answer and the map follow it.',
      zh: '现在把代表“运动鞋”的标记盖到裤子上：在 28x28 输入的 x 24-27、y 24-27 处（右下角）的 4x4 个白色像素。' +
          '作弊者的答案变成“运动鞋”，它的 CAM 也跳到方块上，而旁边诚实的模型仍然看到一条裤子：' +
          '作弊者是看标记作答的，而不是看衣物。解释是要拿来检验的：往图像里放一个错误的东西，看答案和热力图是否跟着它走。',
    },
    try: {
      en: 'In Two models, set "stamp the marker of" to Sneaker and compare the two rows; try other markers, or ' +
          'paint the square yourself in Edit the input.',
      zh: '在“两个模型”中，把“盖上标记：”设为“运动鞋”，比较两行结果；试试其他标记，或在“编辑输入”中自己涂出方块。',
    },
  },
];
