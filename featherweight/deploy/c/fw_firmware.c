/* fw_firmware.c: a minimal Cortex-M4 firmware that links the model with newlib-nano, to measure flash and RAM
 * (c_build.cortex_m4_size; not part of the export). */
#include "fw_model.h"

int main(void)
{
    float logits[FW_NUM_LABELS];
#if FW_PAIR
    return fw_predict_pair("a fine film", "a good film", logits);
#else
    return fw_predict("a fine film", logits);
#endif
}
